#!/usr/bin/python3
"""`vindex compare`'s map-free similarity (spec/compare.md §10) against independent float64
numpy implementations (map_free() in tools/bench_compare_ref.py): linear CKA from data,
debiased CKA from n×n kernel matrices (Song et al.'s estimator as written), SVCCA from an
SVD of the data and QR-based CCA, the Procrustes distances from an SVD of XᵀY, and a dense
mutual k-NN. Within 1e-3, SVCCA's kept dimensions equal, the mutual k-NN exactly (up to
queries the reference reports as near ties). Fixture pairs (extracted), synthetic pairs
from build/tools/mkpair (id- and text-matched, widths not multiples of 32), rows with
exact duplicates and zero rows, both SYRK paths, thread counts, options and usage errors.
Prints "N passed, N failed".
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from vxtest import BDIR, FIX, ROOT, VINDEX, check, finish

sys.path.insert(0, os.path.join(ROOT, "tools"))
import bench_compare_ref as ref  # noqa: E402

MKPAIR = os.path.join(BDIR, "tools", "mkpair")
TOL = 1e-3
FLOATS = ("cka_linear", "cka_debiased", "svcca", "procrustes_distance", "procrustes_angular")


def run(*args, env=None):
    e = dict(os.environ, **env) if env else None
    p = subprocess.run([VINDEX, "compare"] + [str(a) for a in args], capture_output=True, text=True, env=e)
    return p.returncode, p.stdout, p.stderr


def shared(A, B):
    """spec §2, written again here: ids when the vocabularies are identical, else text."""
    if A.V == B.V and A.raw == B.raw:
        return np.arange(A.V), np.arange(A.V)
    bmap = {}
    for i, t in enumerate(B.text):
        if t and t not in bmap:
            bmap[t] = i
    seen, pairs = set(), []
    for i, t in enumerate(A.text):
        if t and t not in seen:
            seen.add(t)
            if t in bmap:
                pairs.append((i, bmap[t]))
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def mapfree_c(a, b, *args, env=None):
    rc, out, err = run(a, b, "--json", *args, env=env)
    if rc:
        return None, err
    return json.loads(out).get("map_free"), err


def vs_reference(name, a, b, *args, knn=10, knn_sample=1000, seed=42, dense=None, env=None):
    c, err = mapfree_c(a, b, *args, env=env)
    check(c is not None, "%s: compare failed: %s" % (name, err.strip()))
    if c is None:
        return None
    A, B = ref.Vindex(a), ref.Vindex(b)
    sa, sb = shared(A, B)
    r, ties, overlap = ref.map_free(A, B, sa, sb, knn, knn_sample, seed, dense=dense)
    worst = max((abs(c[k] - r[k]), k) for k in FLOATS)
    check(worst[0] <= TOL, "%s: largest difference %s = %g (C %r, ref %r)" % (name, worst[1], worst[0], c, r))
    for k in ("tokens", "svcca_dims_a", "svcca_dims_b", "knn_k", "knn_queries"):
        check(c[k] == r[k], "%s: %s = %r, reference %r" % (name, k, c[k], r[k]))
    got = round(c["mutual_knn"] * knn * r["knn_queries"])
    check(abs(got - overlap) <= ties * knn and (ties > 0 or got == overlap),
          "%s: mutual k-NN overlap %d, reference %d (%d near ties)" % (name, got, overlap, ties))
    return c, r, ties


def main():
    tmp = tempfile.mkdtemp(prefix="t_mapfree.")
    vx = {}
    for m in ("tiny-llama", "tiny-qwen3", "tiny-gpt2", "tiny-gemma3"):
        out = os.path.join(tmp, m)
        p = subprocess.run([VINDEX, "extract", os.path.join(FIX, m), "-o", out, "--features", "8"], capture_output=True, text=True)
        check(p.returncode == 0, "extract %s: %s" % (m, p.stderr.strip()))
        vx[m] = out
    llama, qwen, gpt2, gemma = vx["tiny-llama"], vx["tiny-qwen3"], vx["tiny-gpt2"], vx["tiny-gemma3"]

    # 1. fixture pairs: different widths, embed_scale, text matching
    for name, a, b in (("llama-qwen3", llama, qwen), ("gpt2-llama", gpt2, llama), ("gemma3-qwen3", gemma, qwen),
                       ("qwen3-gpt2", qwen, gpt2)):
        vs_reference(name, a, b)
    # the reference's Gram path (used at bench shape) against its dense path
    A, B = ref.Vindex(llama), ref.Vindex(qwen)
    sa, sb = shared(A, B)
    rd = ref.map_free(A, B, sa, sb, dense=True)[0]
    rg = ref.map_free(A, B, sa, sb, dense=False)[0]
    check(all(abs(rd[k] - rg[k]) < 1e-9 for k in FLOATS) and rd["svcca_dims_a"] == rg["svcca_dims_a"],
          "reference: Gram path = dense path (%r vs %r)" % (rd, rg))

    # 2. a model against itself: identical spaces
    c, _ = mapfree_c(llama, llama)
    check(c is not None and abs(c["cka_linear"] - 1) < 1e-6 and abs(c["cka_debiased"] - 1) < 1e-6 and
          abs(c["svcca"] - 1) < 1e-4 and c["procrustes_angular"] < 2e-3 and c["mutual_knn"] == 1.0,
          "self: CKA 1, SVCCA 1, angle 0, mutual k-NN 1 (%r)" % c)

    # 3. synthetic pairs
    pairs = {}
    for name, opts in (("same", ["--vocab", "3000"]), ("perm", ["--vocab", "2500", "--b-vocab", "perm", "--seed", "3"]),
                       ("odd", ["--vocab", "1500", "--hidden-a", "100", "--hidden-b", "70", "--noise", "1.0"]),
                       ("wide", ["--vocab", "1200", "--hidden-a", "64", "--hidden-b", "160", "--feats", "16"])):
        d = os.path.join(tmp, name)
        p = subprocess.run([MKPAIR, d + "-a", d + "-b"] + opts, capture_output=True, text=True)
        check(p.returncode == 0, "mkpair %s: %s" % (name, p.stderr))
        pairs[name] = (d + "-a", d + "-b")
    for name, (a, b) in pairs.items():
        vs_reference("mkpair " + name, a, b)
    a, b = pairs["same"]
    vs_reference("mkpair same, k=1", a, b, "--knn", "1", knn=1)
    vs_reference("mkpair same, k=50, all queries", a, b, "--knn", "50", "--knn-sample", "all", knn=50, knn_sample=10 ** 9)
    vs_reference("mkpair same, 37 queries, seed 9", a, b, "--knn-sample", "37", "--seed", "9", knn_sample=37, seed=9)
    vs_reference("mkpair same, OpenBLAS SYRK", a, b, env={"VINDEX_COMPARE_SYRK": "blas"})

    # 4. exact duplicate rows and zero rows (ties broken by index in both)
    dup = os.path.join(tmp, "dup")
    shutil.copytree(a, dup)
    idx = json.load(open(os.path.join(dup, "index.json")))
    e = np.fromfile(os.path.join(dup, "embeddings.bin"), dtype=np.float16).reshape(idx["vocab_size"], idx["hidden_size"])
    e[100:140] = e[7]
    e[200:205] = 0
    e[300:330] = e[310]
    e.tofile(os.path.join(dup, "embeddings.bin"))
    res = vs_reference("duplicates, all queries", dup, b, "--knn-sample", "all", knn_sample=10 ** 9)
    if res:
        check(res[2] > 0, "duplicates: the reference sees the ties (%d)" % res[2])

    # 5. paths and threads agree; --no-map-free changes nothing else
    c1, _ = mapfree_c(a, b, "--threads", "1")
    c2, _ = mapfree_c(a, b, "--threads", "2")
    c3, _ = mapfree_c(a, b, env={"VINDEX_COMPARE_SYRK": "blas"})
    check(c1 and c2 and c3 and c1["mutual_knn"] == c2["mutual_knn"] == c3["mutual_knn"] and
          all(abs(c1[k] - c2[k]) < 1e-6 and abs(c1[k] - c3[k]) < 1e-6 for k in FLOATS),
          "threads 1 / 2 and the OpenBLAS path agree (%r %r %r)" % (c1, c2, c3))
    rc1, o1, _ = run(a, b, "--json")
    rc2, o2, _ = run(a, b, "--json", "--no-map-free")
    j1, j2 = json.loads(o1), json.loads(o2)
    check(rc1 == 0 and rc2 == 0 and "map_free" not in j2 and {k: v for k, v in j1.items() if k != "map_free"} == j2,
          "--no-map-free: no map_free key, every other number unchanged")
    rc, out, _ = run(a, b)
    check(rc == 0 and "CKA        linear" in out and "mutual k-NN" in out and "SVCCA" in out, "text output has the section")
    rc, out, _ = run(a, b, "--no-map-free")
    check(rc == 0 and "CKA" not in out, "--no-map-free: no section in the text output")

    # 6. usage
    small = os.path.join(tmp, "small")
    subprocess.run([MKPAIR, small + "-a", small + "-b", "--vocab", "600"], capture_output=True)
    for args, why in ((["--knn", "0"], "--knn 0"), (["--knn", "600"], "--knn = shared tokens"),
                      (["--knn-sample", "0"], "--knn-sample 0"), (["--knn-sample", "many"], "--knn-sample word"),
                      (["--knn"], "--knn without a value")):
        rc, _, err = run(small + "-a", small + "-b", *args)
        check(rc == 2 and "knn" in err, "%s: exit 2 naming the option (%d %s)" % (why, rc, err.strip()))
    rc, out, _ = run(small + "-a", small + "-b", "--knn", "599", "--json")
    check(rc == 0 and json.loads(out)["map_free"]["knn_k"] == 599, "--knn N-1 is allowed")
    rc, out, _ = run("--help")
    check(rc == 0 and "--knn-sample" in out and "--no-map-free" in out, "--help lists the options")
    shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
