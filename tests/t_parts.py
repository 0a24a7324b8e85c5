#!/usr/bin/python3
"""Parts and merge (spec/parts.md): `extract --layers A-B` and `vindex merge`.

For every fixture (and a sharded FP8 Qwen3-Next MoE from tests/ckptgen.py): the single
extraction, the same in two and in three parts merged (parts given out of order), every
file but manifest.json/SHA256SUMS byte-identical, the content digest equal, the merged
vindex verified; what each part holds (P2-P4: only its layers, the whole-model files only
in the first, the source files it hashed); parts refused by open/verify; and every
refusal of merge with its message: another checkpoint, other options, another build,
overlapping, missing and duplicated layers, a whole vindex given as a part, a data file,
index.json or SHA256SUMS altered, a file missing. Prints "N passed, N failed".
"""
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

from vxtest import FIX, VINDEX, check, cpu_bf16, finish

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import t_families as TF  # noqa: E402

DATA = ["down_features.bin", "down_meta.bin", "embeddings.bin", "gate_vectors.bin", "index.json", "moments.bin",
        "neurons.bin", "norms.bin", "spectra.bin", "tokenizer.json", "unembed.bin", "vocab.bin"]
WHOLE = ["embeddings.bin", "norms.bin", "tokenizer.json", "unembed.bin", "vocab.bin"]


def run(*args):
    return subprocess.run([VINDEX, *args], capture_output=True, text=True)


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def extract(src, out, *extra):
    r = run("extract", src, "-o", out, "-q", *extra)
    check(r.returncode == 0, f"extract {src} {' '.join(extra)}: {r.stderr.strip()}")
    return r


def split(L, n):
    """n contiguous ranges covering 0..L-1 (as even as possible)."""
    cuts = [round(i * L / n) for i in range(n + 1)]
    return [(cuts[i], cuts[i + 1] - 1) for i in range(n) if cuts[i + 1] > cuts[i]]


def same_as_single(name, single, merged):
    for f in DATA:
        a, b = os.path.join(single, f), os.path.join(merged, f)
        if not os.path.exists(a):
            check(not os.path.exists(b), f"{name}: merged has {f}, the single extraction does not")
            continue
        check(os.path.exists(b) and open(a, "rb").read() == open(b, "rb").read(), f"{name}: {f} differs from the single extraction")
    da = json.load(open(os.path.join(single, "manifest.json")))
    db = json.load(open(os.path.join(merged, "manifest.json")))
    check(da["content_digest"] == db["content_digest"], f"{name}: content digest {db['content_digest']} != {da['content_digest']}")
    for k in ("source_files", "config_sha256", "options", "clamped", "format_version", "tool_version"):
        check(da.get(k) == db.get(k), f"{name}: manifest {k} differs: {db.get(k)} vs {da.get(k)}")
    r = run("verify", merged)
    check(r.returncode == 0, f"{name}: verify merged: {r.stdout}{r.stderr}")


def check_part(name, part, lo, hi, L, src_files):
    idx = json.load(open(os.path.join(part, "index.json")))
    p = idx.get("part", {})
    check(p.get("first_layer") == lo and p.get("last_layer") == hi, f"{name}: part range {p.get('first_layer')}-{p.get('last_layer')}")
    check(idx["num_layers"] == L, f"{name}: a part's num_layers is the model's ({idx['num_layers']} vs {L})")
    check([x["layer"] for x in idx["layers"]] == list(range(lo, hi + 1)), f"{name}: part layers {[x['layer'] for x in idx['layers']]}")
    bgram = cpu_bf16() and os.environ.get("VINDEX_GRAM") != "blas"
    check(p.get("blas", "").endswith("+bf16-gram") == bgram, f"{name}: part blas {p.get('blas')!r} (bf16 Gram {bgram})")
    files = set(os.listdir(part))
    for f in WHOLE:
        if lo == 0:
            check(f in files or f == "unembed.bin", f"{name}: first part lacks {f}")
        else:
            check(f not in files, f"{name}: part {lo}-{hi} holds the whole-model file {f}")
    check("manifest.json" not in files, f"{name}: a part has no manifest.json")
    # P3: files lists each file with its own shape: the shape's elements are its bytes
    width = {"f16": 2, "f32": 4, "u8": 1, "json": 1}
    for f, e in idx["files"].items():
        n = 1
        for d in e["shape"]:
            n *= d
        check(n * width[e["dtype"]] == e["bytes"] == os.path.getsize(os.path.join(part, f)),
              f"{name}: {f}: shape {e['shape']} {e['dtype']} vs {e['bytes']} bytes")
    # SHA256SUMS covers exactly the files, sha256sum -c accepts it
    r = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=part, capture_output=True, text=True)
    check(r.returncode == 0, f"{name}: sha256sum -c in part: {r.stdout}{r.stderr}")
    # P4: every hashed source file hashed right; shards hashed only where read
    for e in p.get("source_files", []):
        if e["sha256"] is not None:
            check(e["sha256"] == src_files[e["name"]], f"{name}: part's sha256 of {e['name']}")
        else:
            check(e["name"].endswith(".safetensors"), f"{name}: non-shard file {e['name']} left unhashed")
    # open, info and verify refuse a part and say so
    for cmd in (["info", part], ["verify", part]):
        r = run(*cmd)
        check(r.returncode != 0 and "part" in (r.stdout + r.stderr), f"{name}: {cmd[0]} on a part: {r.returncode} {r.stderr.strip()}")


def parts_of(name, src, tmp, L, ranges, extra=()):
    out = []
    for lo, hi in ranges:
        d = os.path.join(tmp, f"{name}.p{lo}-{hi}")
        shutil.rmtree(d, ignore_errors=True)
        extract(src, d, "--layers", f"{lo}-{hi}" if lo != hi else str(lo), *extra)
        out.append(d)
    return out


def roundtrip(name, src, tmp, extra=()):
    single = os.path.join(tmp, f"{name}.single")
    extract(src, single, *extra)
    idx = json.load(open(os.path.join(single, "index.json")))
    L = idx["num_layers"]
    src_files = {e["name"]: e["sha256"] for e in json.load(open(os.path.join(single, "manifest.json")))["source_files"]}
    for n in (2, 3):
        ranges = split(L, n)
        parts = parts_of(name, src, tmp, L, ranges, extra)
        for (lo, hi), p in zip(ranges, parts):
            check_part(f"{name}/{n}", p, lo, hi, L, src_files)
        merged = os.path.join(tmp, f"{name}.merged{n}")
        order = parts[::-1] if n == 2 else random.Random(n).sample(parts, len(parts))
        r = run("merge", *order, "-o", merged)
        check(r.returncode == 0, f"{name}: merge of {n} parts: {r.stderr.strip()}")
        if r.returncode == 0:
            same_as_single(f"{name} in {n} parts", single, merged)
    return single, L


def refused(what, args, needle):
    r = run("merge", *args)
    ok = r.returncode == 1 and needle in r.stderr
    check(ok, f"{what}: expected exit 1 and '{needle}', got {r.returncode}: {r.stderr.strip()}")
    out = args[args.index("-o") + 1]
    check(not os.path.exists(out), f"{what}: {out} was left behind")


def resign(part):
    """Rewrite SHA256SUMS as a consistent (but different) part would have it."""
    lines = []
    for f in sorted(os.listdir(part)):
        if f != "SHA256SUMS":
            lines.append(f"{sha(os.path.join(part, f))}  {f}\n")
    open(os.path.join(part, "SHA256SUMS"), "w").write("".join(lines))


def edit_index(part, fn):
    p = os.path.join(part, "index.json")
    idx = json.load(open(p))
    fn(idx)
    json.dump(idx, open(p, "w"), indent=1)


def refusals(tmp):
    src = os.path.join(FIX, "tiny-llama")
    a = parts_of("r", src, tmp, 4, [(0, 1), (2, 3)])
    out = os.path.join(tmp, "refused.vx")
    other = parts_of("q", os.path.join(FIX, "tiny-qwen3"), tmp, 3, [(2, 2)])[0]
    refused("another checkpoint", [a[0], other, "-o", out], "different checkpoints")
    f64 = parts_of("f", src, tmp, 4, [(2, 3)], ("-f", "64"))[0]
    refused("other --features", [a[0], f64, "-o", out], "different options")
    k8 = parts_of("k", src, tmp, 4, [(2, 3)], ("-k", "8"))[0]
    refused("other --top-k", [a[0], k8, "-o", out], "different options")
    ue = parts_of("u", src, tmp, 4, [(2, 3)], ("--unembed",))[0]
    refused("other --unembed", [a[0], ue, "-o", out], "different options")
    over = parts_of("o", src, tmp, 4, [(1, 3)])[0]
    refused("overlapping layers", [a[0], over, "-o", out], "both hold layer 1")
    refused("the same part twice", [a[0], a[1], a[1], "-o", out], "both hold layer 2")
    refused("a missing last range", [a[0], "-o", out], "no part holds layers 2-3")
    refused("a missing first range", [a[1], "-o", out], "no part holds layers 0-1")
    mid = parts_of("m", src, tmp, 4, [(3, 3)])[0]
    refused("a missing middle layer", [a[0], mid, "-o", out], "no part holds layer 2 ")
    refused("a whole vindex as a part", [a[0], os.path.join(tmp, "tiny-llama.single"), "-o", out], "not a part")
    refused("a directory that is no part", [a[0], tmp + "/nothing-here", "-o", out], "nothing-here")

    def tampered(what, mutate, needle):
        d = os.path.join(tmp, "t.p2-3")
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(a[1], d)
        mutate(d)
        refused(what, [a[0], d, "-o", out], needle)

    def flip(d, f, at):
        with open(os.path.join(d, f), "r+b") as fh:
            fh.seek(at)
            b = fh.read(1)
            fh.seek(at)
            fh.write(bytes([b[0] ^ 1]))

    for f in ("gate_vectors.bin", "down_features.bin", "down_meta.bin", "spectra.bin", "neurons.bin", "moments.bin"):
        tampered(f"one bit of {f}", lambda d, f=f: flip(d, f, os.path.getsize(os.path.join(d, f)) // 2), "SHA-256 differs")
    tampered("index.json edited", lambda d: edit_index(d, lambda i: i["layers"][0].update(gate_sigma=[x * 2 for x in i["layers"][0]["gate_sigma"]])),
             "index.json: SHA-256 differs")
    tampered("SHA256SUMS edited", lambda d: open(os.path.join(d, "SHA256SUMS"), "a").write("0" * 64 + "  extra.bin\n"),
             "extra.bin")
    tampered("a file removed", lambda d: os.remove(os.path.join(d, "moments.bin")), "moments.bin")
    tampered("a file truncated and re-signed",
             lambda d: (os.truncate(os.path.join(d, "spectra.bin"), 100), resign(d)), "spectra.bin")

    def other_build(d):
        edit_index(d, lambda i: i["part"].update(tool_version="9.9.9"))
        resign(d)
    tampered("another build", other_build, "one build")

    def other_blas(d):
        edit_index(d, lambda i: i["part"].update(blas="Prescott", blas_threads=7))
        resign(d)
    d = os.path.join(tmp, "b.p2-3")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(a[1], d)
    other_blas(d)
    r = run("merge", a[0], d, "-o", out)
    check(r.returncode == 0 and "different BLAS kernels" in r.stderr, f"other BLAS: merged with a warning: {r.returncode} {r.stderr}")
    shutil.rmtree(out, ignore_errors=True)
    # OUT exists: refused without --force, replaced with it
    os.makedirs(out)
    r = run("merge", *a, "-o", out)
    check(r.returncode == 1 and "already exists" in r.stderr, f"merge over an existing OUT: {r.returncode} {r.stderr}")
    r = run("merge", *a, "-o", out, "--force")
    check(r.returncode == 0 and run("verify", out).returncode == 0, f"merge --force: {r.returncode} {r.stderr}")
    # usage
    for args, needle in ((["-o", out], "PART"), ([a[0]], "-o OUT"), (["--bogus", a[0], "-o", out], "unknown")):
        r = run("merge", *args)
        check(r.returncode == 2 and needle in r.stderr, f"merge usage {args}: {r.returncode} {r.stderr}")
    for bad in ("3-1", "a-b", "-1", "0-99999"):
        r = run("extract", src, "-o", os.path.join(tmp, "x"), "--layers", bad)
        check(r.returncode == 2, f"--layers {bad}: exit {r.returncode}")
    r = run("extract", src, "-o", os.path.join(tmp, "x"), "--layers", "2-4")
    check(r.returncode == 2 and "layers 0-3" in r.stderr, f"--layers beyond the model: {r.returncode} {r.stderr}")
    check(run("merge", "--help").returncode == 0, "merge --help")


def main():
    tmp = tempfile.mkdtemp(prefix="vx-parts-")
    try:
        for name in sorted(os.listdir(FIX)):
            if name.startswith("tiny-"):
                roundtrip(name, os.path.join(FIX, name), tmp, ("--unembed",) if name == "tiny-llama" else ())
        # an MoE in FP8 with block scales, in 2 shards: P4's per-part hashing of shards
        fam = TF.qwen_moe("Qwen3NextForCausalLM", "qwen3_next", L=3, E=16, Im=8, step=1)
        d, _ = TF.build(tmp, fam, "fp8-block")
        roundtrip("qwen3next-fp8", d, tmp, ("-f", "8", "-k", "4"))
        refusals(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
