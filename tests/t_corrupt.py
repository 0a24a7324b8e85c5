#!/usr/bin/python3
"""Corruption battery: damage every file of a vindex extracted from each fixture, then
require that

  * `vindex verify` detects it: exit 1 and a line naming the damaged file (for a swap,
    either file; for an index.json edit, index.json or a file it describes) and the problem;
  * `vindex info --json` and the queries (`score`, `nearest`, `describe`) either answer
    (exit 0, one JSON document on stdout) or fail cleanly (exit 1, a "vindex: ..." message
    on stderr) — never a signal, another exit status or a sanitizer report;
  * when the damage is in a file the queries never read (manifest.json, SHA256SUMS,
    tokenizer.json), their answers are exactly the undamaged ones.

Damage: truncation at 0, 1, half, size-1 and a random offset; random bit flips; appended
bytes; deletion; two files swapped; index.json edits of sizes, shapes and offsets (both
crude lies and internally consistent ones), and of format version 2's keys (spec §9:
version, part, unembedding, layers[].neurons and .weights, the battery's file entries). Cases are generated for every file of every
fixture, then sampled with a fixed seed to keep the run short (all of tiny-qwen3, a sample
of the others); VX_CORRUPT_ALL=1 runs every case, VX_CORRUPT_SEED picks another sample.
Honours $BUILD (build-asan runs the same cases under ASan+UBSan). Prints the counts, then
"N passed, N failed"."""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from vxtest import BDIR, BUILD, FIX, ROOT, VINDEX, check, failures, finish  # noqa: F401

FIXTURES = ("tiny-qwen3", "tiny-llama", "tiny-gpt2", "tiny-gemma3")
FILES = ("gate_vectors.bin", "down_features.bin", "embeddings.bin", "down_meta.bin", "norms.bin", "vocab.bin",
         "tokenizer.json", "index.json", "manifest.json", "SHA256SUMS", "spectra.bin", "neurons.bin", "moments.bin")
# Format version 2 (spec §9): the battery files are in every vindex; tiny-llama (untied) is
# extracted with --unembed so unembed.bin is damaged too.
UNEMBED_FIXTURE = "tiny-llama"
BATTERY = ("spectra.bin", "neurons.bin", "moments.bin", "unembed.bin")
UNREAD_BY_QUERIES = ("manifest.json", "SHA256SUMS", "tokenizer.json") + BATTERY
SANITIZER = re.compile(r"AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer|runtime error:")
SEED = int(os.environ.get("VX_CORRUPT_SEED", "20240611"))
SAMPLE_OTHERS = 20  # cases per fixture other than tiny-qwen3

counts = {"cases": 0, "verify_detected": 0, "runs": 0, "answered": 0, "failed_cleanly": 0, "same_answer": 0}



def run(args, timeout=60):
    env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    try:
        r = subprocess.run([VINDEX] + args, capture_output=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None
    return r


# ------------------------------------------------------------------ damage


def rewrite(d, name, data):
    p = os.path.join(d, name)
    os.unlink(p)  # the case directory hard-links the pristine files: never write through
    with open(p, "wb") as f:
        f.write(data)


def truncate_to(n):
    def f(d, name):
        b = open(os.path.join(d, name), "rb").read()
        rewrite(d, name, b[:n(len(b))])
    return f


def flip_bits(rng):
    k = rng.randint(1, 3)
    seed = rng.getrandbits(32)

    def f(d, name):
        b = bytearray(open(os.path.join(d, name), "rb").read())
        r = random.Random(seed)
        for _ in range(k):
            i = r.randrange(len(b))
            b[i] ^= 1 << r.randrange(8)
        rewrite(d, name, bytes(b))
    return f


def append(rng):
    extra = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))

    def f(d, name):
        rewrite(d, name, open(os.path.join(d, name), "rb").read() + extra)
    return f


def delete(d, name):
    os.unlink(os.path.join(d, name))


def swap(a, b):
    def f(d, _name):
        pa, pb, t = os.path.join(d, a), os.path.join(d, b), os.path.join(d, ".swap")
        os.rename(pa, t)
        os.rename(pb, pa)
        os.rename(t, pb)
    return f


def edit_index(fn):
    def f(d, _name):
        j = json.load(open(os.path.join(d, "index.json")))
        fn(j)
        rewrite(d, "index.json", json.dumps(j, indent=1).encode())
    return f


def _drop_last_layer(j):
    # internally consistent: L-1 layers, file sizes recomputed; the files on disk are bigger
    L, F, H, K = j["num_layers"] - 1, j["num_feats"], j["hidden_size"], j["down_top_k"]
    j["num_layers"] = L
    j["layers"] = j["layers"][:L]
    for n in ("gate_vectors.bin", "down_features.bin"):
        j["files"][n]["bytes"] = L * F * H * 2
        j["files"][n]["shape"] = [L, F, H]
    j["files"]["down_meta.bin"]["bytes"] = 32 + L * 2 * F * 16 * K
    j["norms"] = [n for n in j["norms"] if n["layer"] is None or n["layer"] < L]
    at = 0
    for n in j["norms"]:
        n["offset"] = at
        at += 4 * n["count"]
    j["norms_bytes"] = at
    j["files"]["norms.bin"]["bytes"] = at
    j["files"]["spectra.bin"]["bytes"] = L * 2 * H * 4
    j["files"]["moments.bin"]["bytes"] = L * 2 * F * 16
    last = j["layers"][-1]["neurons"]
    j["files"]["neurons.bin"]["bytes"] = last["offset"] + 4 * last["count"] * len(last["kinds"])


def _grow_hidden(j):
    # consistent lie: H+8 everywhere in index.json (sizes, offsets, shapes), not in the files
    j["hidden_size"] += 8
    L, F, H, V = j["num_layers"], j["num_feats"], j["hidden_size"], j["vocab_size"]
    for i, l in enumerate(j["layers"]):
        l["offset"], l["length"] = i * F * H * 2, F * H * 2
    for n in ("gate_vectors.bin", "down_features.bin"):
        j["files"][n]["bytes"] = L * F * H * 2
    j["files"]["embeddings.bin"]["bytes"] = V * H * 2
    j["files"]["spectra.bin"]["bytes"] = L * 2 * H * 4
    if "unembed.bin" in j["files"]:
        j["files"]["unembed.bin"]["bytes"] = V * H * 2
    for l in j["layers"]:
        w = l["weights"]
        for m in ("gate", "up"):
            if m in w:
                w[m]["cols"] = H
        w["down"]["rows"] = H


def _neurons_shift(j):
    # consistent lie: every neurons block one f32 later, neurons.bin one f32 longer
    for l in j["layers"]:
        l["neurons"]["offset"] += 4
    j["files"]["neurons.bin"]["bytes"] += 4


def _set(path, value):
    """An edit setting j[path...] = value (value may be a function of the old one)."""
    def f(j):
        o = j
        for k in path[:-1]:
            o = o[k]
        o[path[-1]] = value(o[path[-1]]) if callable(value) else value
    return f


INDEX_EDITS_V2 = {
    "version-3": _set(("version",), 3),
    "version-1-with-battery": _set(("version",), 1),
    "part": _set(("part",), {"layers": [0, 1], "of": 4}),
    "unembedding-file-missing": _set(("unembedding",), "unembed.bin"),
    "unembedding-bogus": _set(("unembedding",), "lm_head"),
    "spectra-bytes+4": _set(("files", "spectra.bin", "bytes"), lambda b: b + 4),
    "moments-bytes-0": _set(("files", "moments.bin", "bytes"), 0),
    "drop-neurons-entry": lambda j: j["files"].pop("neurons.bin"),
    "neurons-offset+4": _set(("layers", 1, "neurons", "offset"), lambda b: b + 4),
    "neurons-count-huge": _set(("layers", 0, "neurons", "count"), 2 ** 40),
    "neurons-count-0": _set(("layers", 0, "neurons", "count"), 0),
    "neurons-kinds-order": _set(("layers", 0, "neurons", "kinds"), lambda k: list(reversed(k))),
    "neurons-kinds-unknown": _set(("layers", 0, "neurons", "kinds"), ["gate", "side", "down"]),
    "neurons-missing": lambda j: j["layers"][-1].pop("neurons"),
    "weights-missing": lambda j: j["layers"][0].pop("weights"),
    "weights-down-rows+1": _set(("layers", 0, "weights", "down", "rows"), lambda r: r + 1),
    "weights-gate-cols-huge": _set(("layers", 0, "weights", "gate", "cols"), 2 ** 60),
    "weights-fro-negative": _set(("layers", 0, "weights", "gate", "fro"), -1.0),
    "weights-fro-string": _set(("layers", 0, "weights", "down", "fro"), "1.0"),
    "weights-sparsity-order": _set(("layers", 0, "weights", "gate", "sparsity"), [0.5, 0.4, 0.6, 0.7, 0.8]),
    "weights-sparsity>1": _set(("layers", 0, "weights", "down", "sparsity"), [0, 0, 0, 0, 1.5]),
    "weights-sparsity-short": _set(("layers", 0, "weights", "gate", "sparsity"), [0, 0, 0, 0]),
    "consistent-neurons-shift": _neurons_shift,
}

INDEX_EDITS = {
    "emb-bytes+2": lambda j: j["files"]["embeddings.bin"].__setitem__("bytes", j["files"]["embeddings.bin"]["bytes"] + 2),
    "gate-bytes-0": lambda j: j["files"]["gate_vectors.bin"].__setitem__("bytes", 0),
    "gate-shape": lambda j: j["files"]["gate_vectors.bin"].__setitem__("shape", [1, 1, 1]),
    "hidden+1": lambda j: j.__setitem__("hidden_size", j["hidden_size"] + 1),
    "hidden-huge": lambda j: j.__setitem__("hidden_size", 2 ** 40),
    "feats-x2": lambda j: j.__setitem__("num_feats", j["num_feats"] * 2),
    "vocab-1": lambda j: j.__setitem__("vocab_size", j["vocab_size"] - 1),
    "topk>vocab": lambda j: j.__setitem__("down_top_k", j["vocab_size"] + 1),
    "layer1-offset+2": lambda j: j["layers"][1].__setitem__("offset", j["layers"][1]["offset"] + 2),
    "layer0-length-0": lambda j: j["layers"][0].__setitem__("length", 0),
    "layer-offset-negative": lambda j: j["layers"][-1].__setitem__("offset", -4096),
    "norm-offset+4": lambda j: j["norms"][1].__setitem__("offset", j["norms"][1]["offset"] + 4),
    "norm-count-huge": lambda j: j["norms"][-1].__setitem__("count", 2 ** 62),
    "norms-bytes+4": lambda j: j.__setitem__("norms_bytes", j["norms_bytes"] + 4),
    "sigma-length": lambda j: j["layers"][0]["gate_sigma"].pop(),
    "layers-4096": lambda j: j.__setitem__("num_layers", 4096),
    "size-as-float": lambda j: j.__setitem__("num_feats", j["num_feats"] + 0.5),
    "size-as-string": lambda j: j.__setitem__("vocab_size", str(j["vocab_size"])),
    "drop-files-entry": lambda j: j["files"].pop("vocab.bin"),
    "consistent-drop-layer": _drop_last_layer,
    "consistent-grow-hidden": _grow_hidden,
}


def cases_for(fixture, rng, sizes, files):
    out = []  # (label, damaged file(s), mutate(d, name))
    for name in files:
        size = sizes[name]
        r = rng.randrange(1, max(2, size))
        for label, n in (("trunc0", lambda s: 0), ("trunc1", lambda s: 1), ("trunc-half", lambda s: s // 2),
                         ("trunc-size-1", lambda s: s - 1), ("trunc@%d" % r, lambda s, r=r: min(r, s - 1))):
            out.append((f"{name}:{label}", (name,), truncate_to(n)))
        for i in range(2):
            out.append((f"{name}:flip{i}", (name,), flip_bits(rng)))
        out.append((f"{name}:append", (name,), append(rng)))
        out.append((f"{name}:delete", (name,), delete))
    pairs = [("gate_vectors.bin", "down_features.bin"), ("vocab.bin", "tokenizer.json"), ("index.json", "manifest.json"),
             ("down_meta.bin", "norms.bin"), ("spectra.bin", "moments.bin"), tuple(rng.sample(files, 2))]
    if "unembed.bin" in files:
        pairs.append(("embeddings.bin", "unembed.bin"))
    for a, b in pairs:
        out.append((f"swap {a} {b}", (a, b), swap(a, b)))
    for label, fn in list(INDEX_EDITS.items()) + list(INDEX_EDITS_V2.items()):
        out.append((f"index.json:{label}", ("index.json",), edit_index(fn)))
    return out


# ------------------------------------------------------------------ checks


def queries(vx, token, have_queries):
    q = [("info", ["info", vx, "--json"])]
    if have_queries:
        q += [("score", ["score", vx, token, "--json"]), ("nearest", ["nearest", vx, "--token", token, "--json"]),
              ("describe", ["describe", vx, "0:0", "--json"])]
    return q


def clean_run(label, what, r):
    """Exit 0 with JSON, or exit 1 with a message; never a signal or a sanitizer report."""
    counts["runs"] += 1
    if not check(r is not None, f"{label}: {what}: timed out"):
        return None
    err = r.stderr.decode(errors="replace")
    ok = check(r.returncode in (0, 1), f"{label}: {what}: exit {r.returncode} "
               f"({'signal %d' % -r.returncode if r.returncode < 0 else 'unexpected status'}); stderr {err[-400:]!r}")
    ok &= check(not SANITIZER.search(err), f"{label}: {what}: sanitizer report: {err[-1500:]}")
    if not ok:
        return None
    if r.returncode == 1:
        counts["failed_cleanly"] += 1
        check(err.startswith("vindex") and len(err.strip()) > 10 and err.count("\n") <= 4,
              f"{label}: {what}: failure without a clear message: {err!r}")
        return None
    counts["answered"] += 1
    try:
        return json.loads(r.stdout)
    except ValueError:
        check(False, f"{label}: {what}: exit 0 but stdout is not JSON: {r.stdout[:200]!r}")
        return None


def main():
    if not os.access(VINDEX, os.X_OK):
        print(f"{VINDEX} not built")
        print("0 passed, 1 failed")
        sys.exit(1)
    have_queries = subprocess.run([VINDEX, "score", "--help"], capture_output=True).returncode == 0
    rng = random.Random(SEED)
    run_all = os.environ.get("VX_CORRUPT_ALL") == "1"
    tmp = tempfile.mkdtemp(prefix="vx-corrupt-")
    try:
        for fx in FIXTURES:
            good = os.path.join(tmp, fx)
            extra = ["--unembed"] if fx == UNEMBED_FIXTURE else []
            r = run(["extract", os.path.join(FIX, fx), "-o", good, "--features", "8", "--top-k", "4"] + extra, timeout=300)
            if not check(r is not None and r.returncode == 0, f"{fx}: extract failed: {r and r.stderr[-300:]!r}"):
                continue
            r = run(["verify", good])
            check(r.returncode == 0, f"{fx}: pristine vindex does not verify: {r.stdout!r} {r.stderr!r}")
            files = tuple(sorted(os.listdir(good)))
            check(set(FILES) <= set(files) and ("unembed.bin" in files) == bool(extra), f"{fx}: files {files}")
            sizes = {n: os.path.getsize(os.path.join(good, n)) for n in files}
            token = "#5"
            base = {}
            for what, args in queries(good, token, have_queries):
                base[what] = clean_run(f"{fx} pristine", what, run(args))
            cases = cases_for(fx, rng, sizes, files)
            if not run_all and fx != "tiny-qwen3":
                cases = rng.sample(cases, min(SAMPLE_OTHERS, len(cases)))
            for i, (label, names, mutate) in enumerate(cases):
                label = f"{fx} {label}"
                d = os.path.join(tmp, f"case-{fx}-{i}")
                os.mkdir(d)
                for n in files:
                    os.link(os.path.join(good, n), os.path.join(d, n))
                mutate(d, names[0])
                counts["cases"] += 1
                # verify: exit 1, a line naming the file and the problem
                r = run(["verify", d])
                if clean_run(label, "verify", r) is None and r is not None:
                    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
                    accept = names
                    if names == ("index.json",):  # a lie in the index shows up in the file it describes
                        accept += ("gate_vectors.bin", "down_features.bin", "embeddings.bin", "down_meta.bin", "norms.bin",
                                   "vocab.bin") + BATTERY
                    if names == ("SHA256SUMS",):  # a damaged line shows up as the file it no longer lists right
                        accept = files
                    named = [l for l in out.splitlines() if any(re.search(re.escape(n) + r"\S*: \S", l) for n in accept)]
                    if check(r.returncode == 1 and named, f"{label}: verify did not report it (exit {r.returncode}): {out[-300:]!r}"):
                        counts["verify_detected"] += 1
                else:
                    check(False, f"{label}: verify passed a damaged vindex")
                for what, args in queries(d, token, have_queries):
                    got = clean_run(label, what, run(args))
                    if got is not None and what != "info" and all(n in UNREAD_BY_QUERIES for n in names):
                        if check(got == base[what], f"{label}: {what} answer changed though only {names} was damaged"):
                            counts["same_answer"] += 1
                shutil.rmtree(d)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"build {BUILD}: {counts['cases']} damaged vindexes, verify detected {counts['verify_detected']}; "
          f"{counts['runs']} command runs: {counts['answered']} answered, {counts['failed_cleanly']} failed cleanly, "
          f"{counts['same_answer']} answers checked identical to the undamaged ones; queries "
          f"{'included' if have_queries else 'not built yet (info/verify only)'}")
    finish()


if __name__ == "__main__":
    main()
