#!/usr/bin/python3
"""`vindex compare` against the numpy/scipy reference (tools/bench_compare_ref.py:
numpy PCA, scipy.linalg.orthogonal_procrustes, scipy.linalg.orth), spec/compare.md.

Fixtures: tiny-llama (H=128), tiny-qwen3 (H=96, PCA path), tiny-gpt2, tiny-gemma3
(embed_scale) extracted with `vindex extract --features 32`, and synthetic pairs from
build/tools/mkpair (text-matched vocabularies, disjoint and nearly disjoint ones).
Every reported metric within 1e-3 of the reference, with explicit anchor/test lists
(raw strings and #IDs) and with the default seeded split. Prints "N passed, N failed".
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from vxtest import BDIR, BUILD, FIX, ROOT, VINDEX, check, failures, finish  # noqa: F401

sys.path.insert(0, os.path.join(ROOT, "tools"))
import bench_compare_ref as ref  # noqa: E402

MKPAIR = os.path.join(BDIR, "tools", "mkpair")
TOL = 1e-3



def rel_dev(x, y):
    """Largest |x − y| / max(1, |y|) over the numbers of two JSON results (ids included)."""
    if isinstance(y, dict):
        return max([rel_dev(x[k], v) for k, v in y.items()] or [0.0])
    if isinstance(y, list):
        return max([rel_dev(u, v) for u, v in zip(x, y)] or [0.0]) if len(x) == len(y) else float("inf")
    if isinstance(y, (int, float)) and not isinstance(y, bool):
        return abs(x - y) / max(1.0, abs(y))
    return 0.0 if x == y else float("inf")


def run(*args, env=None):
    e = dict(os.environ, **env) if env else None
    p = subprocess.run([VINDEX, "compare"] + [str(a) for a in args], capture_output=True, text=True, env=e)
    return p.returncode, p.stdout, p.stderr


def cpu_bf16():
    try:
        with open("/proc/cpuinfo") as f:
            return any(l.startswith("flags") and " avx512_bf16" in l for l in f)
    except OSError:
        return False


def screening(name, a, b, *args, expect_fewer=True):
    """The bf16-screened all-token pass (spec/compare.md §7) against the exact one: every
    other number identical; best/worst the same tokens (but for ties within 1e-6) with the
    same cosines to f32 rounding (the exact map of a token runs in another GEMM block, whose
    last bits may differ). On a CPU with AVX-512 BF16 the screened pass must have run (its
    VINDEX_COMPARE_TIMING line), and, where expect_fewer, mapped fewer tokens exactly."""
    rc0, exact, err0 = run(a, b, "--json", *args, env={"VINDEX_COMPARE_SCREEN": "0"})
    rc1, screened, err1 = run(a, b, "--json", *args, env={"VINDEX_COMPARE_TIMING": "1"})
    check(rc0 == 0 and rc1 == 0, "%s: screened and exact runs exit 0 (%d %d %s %s)" % (name, rc0, rc1, err0, err1))
    if rc0 or rc1:
        return
    e, s = json.loads(exact), json.loads(screened)
    lists = ("best", "worst", "best_centred", "worst_centred")
    check({k: v for k, v in e.items() if k not in lists + ("frac_above",)} ==
          {k: v for k, v in s.items() if k not in lists + ("frac_above",)}, "%s: screening changes no other number" % name)
    # every token near a threshold is mapped exactly; one whose exact cosine lies within f32
    # rounding of a threshold may still land on either side in the two runs
    n = e["shared_tokens"]
    check(max(abs(e["frac_above"][k] - s["frac_above"][k]) for k in e["frac_above"]) <= 2.0 / n,
          "%s: screened frac_above over all tokens = the exact one" % name)
    for lst in lists:
        cs = [t["cosine"] for t in e[lst]]
        same = len(e[lst]) == len(s[lst])
        for i, (et, st) in enumerate(zip(e[lst], s[lst])):
            gap = min([abs(cs[i] - cs[j]) for j in (i - 1, i + 1) if 0 <= j < len(cs)] or [1])
            same = same and abs(et["cosine"] - st["cosine"]) <= 1e-6 and (gap <= 1e-6 or et["token_id"] == st["token_id"])
        check(same, "%s: screened %s list = the exact one" % (name, lst))
    line = [l for l in err1.splitlines() if "screened" in l]
    if not cpu_bf16():
        check(not line, "%s: no screening without AVX-512 BF16" % name)
        return
    check(len(line) == 1, "%s: the screened pass ran (%s)" % (name, err1.strip()))
    if line and expect_fewer:
        w = line[0].split()
        n, m = int(w[w.index("screened") + 1]), int(w[w.index("exactly") - 2])
        check(0 < m < n, "%s: %d of %d tokens needed the exact map" % (name, m, n))


def vs_reference(name, a, b, cli_args, ref_kwargs):
    rc, out, err = run(a, b, "--json", *cli_args)
    check(rc == 0, "%s: exit %d: %s" % (name, rc, err.strip()))
    if rc:
        return None
    c = json.loads(out)
    r = ref.compare(a, b, **ref_kwargs)
    diffs = ref.metric_diffs(c, r)
    worst = max(diffs, key=lambda x: x[1])
    check(len(diffs) > 100 and worst[1] <= TOL, "%s: %d metrics, largest difference %s = %g" % (name, len(diffs), worst[0], worst[1]))
    for k in ("shared_tokens", "match", "anchors", "test", "source", "target", "dim_source", "dim_target", "pca_dim"):
        check(c[k] == r[k], "%s: %s = %r, reference %r" % (name, k, c[k], r[k]))
    # Token identities where the cosine is not a near tie.
    for lst in ("best", "worst", "best_centred", "worst_centred"):
        cs = [t["cosine"] for t in r[lst]]
        for i, (ct, rt) in enumerate(zip(c[lst], r[lst])):
            gap = min([abs(cs[i] - cs[j]) for j in (i - 1, i + 1) if 0 <= j < len(cs)] or [1])
            if gap > 1e-5:
                check(ct["token_id"] == rt["token_id"], "%s: %s[%d] token #%d, reference #%d" % (name, lst, i, ct["token_id"], rt["token_id"]))
        check(all(isinstance(t["token"], str) for t in c[lst]), "%s: %s tokens are strings" % (name, lst))
    for key in ("cosine", "cosine_centred", "baseline", "baseline_centred"):
        check(c[key]["min_token_id"] == r[key]["min_token_id"] and c[key]["max_token_id"] == r[key]["max_token_id"],
              "%s: %s min and max tokens" % (name, key))
    # simplex volumes are small numbers: compare them relatively too
    pc, pr = c["pentachoron"], r["pentachoron"]
    check(pc["valid"] == pr["valid"] and all(
        pr[k] is None and pc[k] is None or abs(pc[k] - pr[k]) <= 1e-4 * abs(pr[k]) for k in ("native_mean", "aligned_mean")),
        "%s: pentachoron volumes within 1e-4 relative (%r, reference %r)" % (name, pc, pr))
    keys = ["shared_tokens", "anchors", "test", "source", "target", "dim_source", "dim_target", "pca_dim",
            "pca_variance_retained", "procrustes_scale", "cosine", "l2", "frac_above", "frac_above_heldout",
            "relational_correlation", "relational_mean_abs_diff", "digit_correlation", "digit_cosines", "best", "worst",
            "residual_eigenvalues", "pentachoron", "baseline", "cosine_centred", "frac_above_centred",
            "relational_correlation_centred", "relational_mean_abs_diff_centred", "digit_correlation_centred",
            "best_centred", "worst_centred", "residual_eigenvalues_centred", "baseline_centred", "layers"]
    check(all(k in c for k in keys), "%s: JSON keys missing: %s" % (name, [k for k in keys if k not in c]))
    check(sorted(c["frac_above"]) == ["0.%d" % k for k in range(10)], "%s: frac_above keys" % name)
    return c


def text_unique(V, txt, i):
    """Whether readable text `txt` resolves to token i (its raw form is i's raw string)."""
    return V.raw_id.get(txt) is None


def write_list(path, lines):
    with open(path, "wb") as f:
        f.write(b"".join(l + b"\n" for l in lines))


def main():
    tmp = tempfile.mkdtemp(prefix="t_compare.")
    vx = {}
    for m in ("tiny-llama", "tiny-qwen3", "tiny-gpt2", "tiny-gemma3"):
        out = os.path.join(tmp, m)
        p = subprocess.run([VINDEX, "extract", os.path.join(FIX, m), "-o", out, "--features", "32"], capture_output=True, text=True)
        check(p.returncode == 0, "extract %s: %s" % (m, p.stderr.strip()))
        vx[m] = out
    llama, qwen, gpt2, gemma = vx["tiny-llama"], vx["tiny-qwen3"], vx["tiny-gpt2"], vx["tiny-gemma3"]

    # Explicit lists: raw strings and #IDs of A's vocabulary, from a fixed numpy draw.
    A = ref.Vindex(llama)
    rng = np.random.default_rng(7)
    perm = rng.permutation(A.V)
    anc_ids, test_ids = [int(i) for i in perm[:1500]], [int(i) for i in perm[1500:2700]]
    anc_file, test_file = os.path.join(tmp, "anchors.txt"), os.path.join(tmp, "test.txt")
    # anchors: raw strings where unambiguous (no '#NNN' look-alikes, no newline/CR), else #ID.
    # Q-T1 reads a line as readable text first, and reaches a raw token only when it spells
    # whole characters: so a raw string must be whole text, and must not also be the
    # readable text of another token (the fixtures are byte-level: GPT-2's byte map).
    bs = list(range(33, 127)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs + [256 + k for k in range(256 - len(bs))]
    bs = bs + [b for b in range(256) if b not in bs]
    to_raw = {b: chr(c) for b, c in zip(bs, cs)}
    from_raw = {c: b for b, c in to_raw.items()}

    def whole(r):
        try:
            bytes(from_raw[c] for c in r.decode()).decode()
            return True
        except (KeyError, UnicodeDecodeError):
            return False

    def as_text_names(r):
        return A.raw_id.get("".join(to_raw[b] for b in r).encode())

    lines = []
    for i in anc_ids:
        r = A.raw[i]
        ok = r and b"\n" not in r and b"\r" not in r and not (r[:1] == b"#" and r[1:].isdigit()) and A.raw_id.get(r) == i
        ok = ok and whole(r) and as_text_names(r) in (None, i)
        lines.append(r if ok else b"#%d" % i)
    write_list(anc_file, lines)
    write_list(test_file, [b"#%d" % i for i in test_ids])
    check(sum(not l.startswith(b"#") for l in lines) > 1000, "anchor list uses raw strings")
    lists = dict(anchors=anc_ids, test=test_ids)

    # 1. different widths: PCA path (llama 128 is the source, qwen3 96 the target)
    c = vs_reference("llama-qwen3 lists", llama, qwen, ["--anchors", anc_file, "--test", test_file], lists)
    if c:
        check(c["source"] == "A" and c["pca_dim"] == 96 and c["anchors"] == 1500 and c["test"] == 1200, "llama-qwen3: roles and sizes")
        check(0 < c["pca_variance_retained"] < 1, "llama-qwen3: variance retained in (0,1)")
        check(c["cosine"]["mean"] > c["baseline"]["mean"] + 0.1, "llama-qwen3: alignment beats the random baseline")
        check(len(c["layers"]["gate"]) == 4 and len(c["layers"]["gate"][0]) == 3 and len(c["layers"]["matched"]) == 3, "llama-qwen3: layer table 4x3, 3 matched pairs")
    # The figures (tiny-llama -> tiny-qwen3, explicit lists of 2,000 anchors and
    # 1,000 test tokens): the published definitions against the centred ones
    lists_dir = os.path.join(ROOT, "tests", "compare-lists")  # tiny-llama ids, random.seed(7) shuffle
    la, lt = os.path.join(lists_dir, "anchors-2000.txt"), os.path.join(lists_dir, "test-1000.txt")
    c = vs_reference("llama-qwen3 issue lists", llama, qwen, ["--anchors", la, "--test", lt],
                     dict(anchors=A.read_tokens(la), test=A.read_tokens(lt)))
    if c:
        got = tuple(round(x, 3) for x in (c["cosine"]["mean"], c["cosine_centred"]["mean"], c["relational_correlation"],
                                          c["relational_correlation_centred"]))
        check(got == (0.530, 0.239, 0.447, 0.243), "issue figures: held-out cosine 0.530 vs 0.239, relational 0.447 vs "
              "0.243 (got %r)" % (got,))
        check(c["anchors"] == 2000 and c["test"] == 1000 and c["pentachoron"]["simplices"] == 1000, "issue lists: sizes")
        rc, txt, err = run(llama, qwen, "--anchors", la, "--test", lt)
        check(rc == 0 and txt.index("published definitions") < txt.index("centred definitions")
              and "cosine     mean 0.5298" in txt, "text output leads with the published numbers")
    # Token lists in readable form (" Paris", as score --batch reads them) name the same tokens
    # as raw strings and #IDs
    readable = os.path.join(tmp, "readable.txt")
    tl = []
    for i in anc_ids:
        txt = A.text[i]
        ok = txt and all(32 <= ch < 127 and ch != 92 for ch in txt) and not txt.startswith(b"#") and A.raw[i] != txt
        tl.append(txt if ok and A.raw_id.get(A.raw[i]) == i and text_unique(A, txt, i) else b"#%d" % i)
    write_list(readable, tl)
    check(sum(not l.startswith(b"#") for l in tl) > 300, "readable list: %d readable lines" % sum(not l.startswith(b"#") for l in tl))
    r1 = run(llama, qwen, "--json", "--anchors", anc_file, "--test", test_file)
    r2 = run(llama, qwen, "--json", "--anchors", readable, "--test", test_file)
    check(r1[0] == 0 and r2[0] == 0 and r1[1] == r2[1], "readable token list = raw/#ID list (%s)" % r2[2].strip())
    nul = os.path.join(tmp, "nul.txt")
    write_list(nul, [b"#1", b"ab\x00cd"])
    rc, out, err = run(llama, qwen, "--anchors", nul)
    check(rc == 2 and "nul.txt:2" in err, "a NUL byte in a token list: usage error naming the line (%d %s)" % (rc, err.strip()))
    # reversed: qwen3 is A, B the wider source
    vs_reference("qwen3-llama lists", qwen, llama, ["--anchors", anc_file, "--test", test_file], lists)
    # 2. default seeded split, PCA on a sample (--pca-sample below the shared count)
    vs_reference("llama-qwen3 default", llama, qwen, ["--seed", "7", "--pca-sample", "1000"], dict(seed=7, pca_sample=1000))
    # 3. equal widths (B is the source), Gemma's embed_scale, counts, layer map
    vs_reference("gpt2-gemma3", gpt2, gemma, ["--anchors", "800", "--test", "600", "--layer-map", "0:0,3:3,1:2"],
                 dict(anchors=800, test=600, layer_map=[(0, 0), (3, 3), (1, 2)]))
    vs_reference("llama-gpt2 file+count", llama, gpt2, ["--anchors", anc_file, "--test", "300"], dict(anchors=anc_ids, test=300))
    # fewer anchors than dimensions: the cross-covariance is singular, so the eigen path of
    # MᵀM refuses it and R comes from the SVD. R is then not unique (any rotation of the
    # null space fits as well), so only what is determined is compared: Σσ.
    rc, out, err = run(llama, qwen, "--json", "--anchors", "40", "--test", "400")
    check(rc == 0, "40 anchors (singular cross-covariance): exit %d %s" % (rc, err.strip()))
    if rc == 0:
        c, r = json.loads(out), ref.compare(llama, qwen, anchors=40, test=400)
        check(abs(c["procrustes_scale"] - r["procrustes_scale"]) <= 1e-6 * abs(r["procrustes_scale"]),
              "40 anchors: procrustes_scale %r, reference %r" % (c["procrustes_scale"], r["procrustes_scale"]))
        check(0 < c["cosine"]["mean"] <= 1, "40 anchors: a cosine mean in (0, 1]")

    # 4. a vindex with itself: cosine 1, scale = trace of the centred anchor covariance XᵀX
    rc, out, err = run(llama, llama, "--json", "--anchors", anc_file, "--test", test_file)
    check(rc == 0, "self: exit %d %s" % (rc, err))
    if rc == 0:
        c = json.loads(out)
        X = A.rows(anc_ids)
        X -= X.mean(0)
        tr = float(np.trace(X.T @ X))
        check(abs(c["procrustes_scale"] - tr) <= 1e-6 * tr, "self: scale %r vs trace %r" % (c["procrustes_scale"], tr))
        check(abs(c["cosine"]["mean"] - 1) < 1e-9 and abs(c["cosine"]["min"] - 1) < 1e-9, "self: cosine 1")
        check(c["l2"]["mean"] < 1e-9 and c["relational_correlation"] > 1 - 1e-9, "self: l2 0, relational 1")
        check(all(abs(t["cosine"] - 1) < 1e-5 for t in c["worst"]), "self: every shared token maps onto itself")
        check(all(abs(c["layers"]["gate"][i][i] - 1) < 1e-6 for i in range(4)), "self: layer subspaces identical")
        check(c["frac_above"]["0.9"] == 1.0 and c["baseline_centred"]["mean"] < 0.2, "self: frac_above, baseline")
        px = c["pentachoron"]
        check(px["valid"] > 900 and abs(px["volume_ratio"] - 1) < 1e-5 and px["correlation"] > 1 - 1e-6,
              "self: every simplex keeps its volume (%r)" % px)

    # 5. determinism: same inputs and seed, same output; another seed, another split
    r1, r2, r3 = run(llama, qwen, "--json")[1], run(llama, qwen, "--json")[1], run(llama, qwen, "--json", "--seed", "43")[1]
    check(r1 == r2 and r1 != r3, "same seed → identical JSON; another seed differs")

    # 6. synthetic pairs: text-matched vocabularies (permuted ids), disjoint, too few
    syn = {}
    for mode in ("perm", "meta", "disjoint", "few:6", "same"):
        a, b = os.path.join(tmp, "a-" + mode), os.path.join(tmp, "b-" + mode)
        p = subprocess.run([MKPAIR, a, b, "--b-vocab", mode, "--hidden-a", "64", "--hidden-b", "80", "--feats", "8",
                            "--vocab", "2048"], capture_output=True, text=True)
        check(p.returncode == 0, "mkpair %s: %s" % (mode, p.stderr))
        syn[mode] = (a, b)
    c = vs_reference("perm vocab", *syn["perm"], [], {})
    if c:
        check(c["match"] == "text" and c["shared_tokens"] == 2048 - 100, "perm: matched by text, 1948 shared")
        check(c["source"] == "B" and c["pca_dim"] == 64, "perm: B (80) is the source")
        check(c["cosine"]["mean"] > 0.8 and any(t["token_id"] != t["token_id_b"] for t in c["best"]), "perm: strong alignment across different ids")
    # across tokenizer families: B is a SentencePiece-style Metaspace vocabulary
    c = vs_reference("Metaspace vs byte-level vocab", *syn["meta"], [], {})
    if c:
        check(c["match"] == "text" and c["shared_tokens"] > 1900 and c["cosine"]["mean"] > 0.8,
              "meta: matched by readable text across tokenizers (%d shared)" % c["shared_tokens"])
        check(any(t["token_id"] != t["token_id_b"] for t in c["best"]), "meta: different ids matched")
    rc, out, err = run(*syn["disjoint"])
    check(rc == 1 and "disjoint" in err, "disjoint vocabularies: exit 1 and a clear message (%d, %s)" % (rc, err.strip()))
    rc, out, err = run(*syn["few:6"])
    check(rc == 1 and "too few shared tokens: 6" in err, "too few shared tokens: exit 1 (%d, %s)" % (rc, err.strip()))
    rc, out, err = run(*syn["same"], "--json")
    check(rc == 0 and json.loads(out)["match"] == "id", "same vocabulary → matched by id")

    # 6b. wide source (640 → 160): the divide-and-conquer eigensolver path (H ≥ 512, d ≥ H/8),
    # PCA on a seeded sample, several blocks of rows; thread count must not change a number
    a, b = os.path.join(tmp, "a-wide"), os.path.join(tmp, "b-wide")
    p = subprocess.run([MKPAIR, a, b, "--vocab", "9000", "--hidden-a", "640", "--hidden-b", "160", "--layers-a", "3",
                        "--layers-b", "2", "--feats", "16", "--noise", "0.3", "--seed", "5"], capture_output=True, text=True)
    check(p.returncode == 0, "mkpair wide: %s" % p.stderr)
    c = vs_reference("wide pair, PCA sample", a, b, ["--pca-sample", "5000", "--anchors", "4000", "--test", "3000"],
                     {"pca_sample": 5000, "anchors": 4000, "test": 3000})
    if c:
        check(c["pca_dim"] == 160 and c["pca_fit_tokens"] == 5000 and c["source"] == "A", "wide: A is the source, PCA 640 → 160 on 5000 tokens")
    # BLAS partitions sums by thread count, so numbers may move in the last digits only
    outs = [run(a, b, "--json", "--pca-sample", "5000", "--threads", t)[1] for t in ("1", "2", "3")]
    if all(outs):
        j = [json.loads(o) for o in outs]
        dev = max(rel_dev(o, j[0]) for o in j[1:])
        check(dev < 1e-4, "wide: 1, 2 and 3 threads agree to %g (relative; f32 rounding)" % dev)
    else:
        check(False, "wide: runs with 1, 2, 3 threads")

    # 6b'. many directions per layer (F = 520): the layer table's GEMM then runs one A layer
    # at a time (blocks of ~1,024 rows), and every block must land in its own rows
    a2, b2 = os.path.join(tmp, "a-feats"), os.path.join(tmp, "b-feats")
    p = subprocess.run([MKPAIR, a2, b2, "--vocab", "3000", "--hidden-a", "640", "--hidden-b", "600", "--layers-a", "3",
                        "--layers-b", "2", "--feats", "520", "--noise", "0.3", "--seed", "9"], capture_output=True, text=True)
    check(p.returncode == 0, "mkpair feats: %s" % p.stderr)
    vs_reference("F = 520 directions per layer", a2, b2, ["--anchors", "1000", "--test", "500"], {"anchors": 1000, "test": 500})

    # 6c. the bf16-screened best/worst pass gives what the exact pass gives: the wide pair,
    # the PCA path on the fixtures, permuted vocabularies, and a vindex with itself (every
    # cosine 1: every token ties at the threshold, so every one goes to the exact map)
    screening("wide pair", a, b, "--pca-sample", "5000", "--anchors", "2000", "--test", "1000")
    screening("llama-qwen3", llama, qwen, "--anchors", "500", "--test", "300", expect_fewer=False)
    screening("perm vocab", *syn["perm"], "--anchors", "500", "--test", "300", expect_fewer=False)
    screening("self", llama, llama, "--anchors", "500", "--test", "300", expect_fewer=False)

    # 6d. the covariance's own SYRK (AVX-512, packing straight from f16) against OpenBLAS's
    # (VINDEX_COMPARE_SYRK=blas): the same numbers to f32 rounding, on the wide pair and the
    # fixtures' PCA path (H = 128 → 96)
    for name, x, y, extra in (("wide pair", a, b, ["--pca-sample", "5000"]), ("llama-qwen3", llama, qwen, [])):
        rc0, own, e0 = run(x, y, "--json", "--anchors", "500", "--test", "300", *extra)
        rc1, blas, e1 = run(x, y, "--json", "--anchors", "500", "--test", "300", *extra, env={"VINDEX_COMPARE_SYRK": "blas"})
        check(rc0 == 0 and rc1 == 0, "%s: own and OpenBLAS SYRK runs exit 0 (%s %s)" % (name, e0, e1))
        if rc0 == 0 and rc1 == 0:
            dev = rel_dev(json.loads(own), json.loads(blas))
            check(dev < 1e-4, "%s: own SYRK and OpenBLAS's agree to %g (relative)" % (name, dev))

    # 7. errors and usage
    bad = os.path.join(tmp, "bad.txt")
    write_list(bad, [b"#1", b"no-such-token-xyz"])
    rc, out, err = run(llama, qwen, "--anchors", bad)
    check(rc == 1 and "bad.txt:2" in err, "unknown token in a list: exit 1 naming the line (%d %s)" % (rc, err.strip()))
    rc, out, err = run(syn["perm"][0], syn["perm"][1], "--anchors", test_file)
    check(rc == 1, "token not shared: exit 1 (%d %s)" % (rc, err.strip()))
    check(run(llama, qwen, "--anchors", "4000", "--test", "500")[0] == 2, "more anchors+test than shared tokens: usage")
    check(run(llama)[0] == 2 and run(llama, qwen, "--bogus")[0] == 2 and run(llama, qwen, "--layer-map", "1-2")[0] == 2, "usage errors exit 2")
    check(run(llama, qwen, "--layer-map", "9:0")[0] == 2, "layer map out of range: usage")
    check(run(llama, os.path.join(tmp, "missing"))[0] == 1, "missing vindex: exit 1")
    rc, out, err = run("--help")
    check(rc == 0 and "--anchors" in out, "--help")
    rc, out, err = run(llama, qwen)
    check(rc == 0 and "procrustes" in out and "gate subspaces" in out and "baseline" in out, "text report")

    subprocess.run(["rm", "-rf", tmp])
    finish()


if __name__ == "__main__":
    sys.exit(main())
