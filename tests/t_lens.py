#!/usr/bin/python3
"""`vindex lens` against numpy float64: logits = U · norm(v), with the final norm as
norms.bin stores it (RMSNorm, or LayerNorm with its bias for GPT-2) and U the unembedding
(unembed.bin from `extract --unembed`, or the embeddings when tied), on all four fixtures
for features of both kinds, tokens (× embed_scale), text and vector files; the top and
bottom lists equal numpy's up to near-ties, logits within 1e-4 relative. Refusals: an untied
vindex without --unembed (exit 1, the message says what to do), usage errors (exit 2).
Prints "N passed, N failed"."""
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

from vxtest import FIX, VINDEX, check, finish

TOP = 8


def run(*args):
    return subprocess.run([VINDEX, *args], capture_output=True, text=True)


def load(d):
    idx = json.load(open(os.path.join(d, "index.json")))
    V, H, L, F = idx["vocab_size"], idx["hidden_size"], idx["num_layers"], idx["num_feats"]
    emb = np.fromfile(os.path.join(d, "embeddings.bin"), dtype="<f2").reshape(V, H).astype(np.float64)
    nb = np.fromfile(os.path.join(d, "norms.bin"), dtype="<f4").astype(np.float64)
    norms = {n["name"]: nb[n["offset"] // 4: n["offset"] // 4 + n["count"]] for n in idx["norms"]}
    U = emb if idx["tied_embeddings"] else np.fromfile(os.path.join(d, "unembed.bin"), dtype="<f2").reshape(V, H).astype(np.float64)
    feats = {k: np.fromfile(os.path.join(d, f), dtype="<f2").reshape(L, F, H).astype(np.float64)
             for k, f in (("gate", "gate_vectors.bin"), ("down", "down_features.bin"))}
    return idx, emb, norms, U, feats


def lens_ref(idx, norms, U, v):
    eps = idx.get("norm_eps") or 0.0
    w, b = norms["norm"], norms.get("norm.bias")
    if b is not None:
        x = v - v.mean()
        n = x / np.sqrt(np.mean(x * x) + eps) * w + b
    else:
        n = v / np.sqrt(np.mean(v * v) + eps) * w
    return U @ n


def agree(name, got, logits):
    """got: list of {token_id, logit} from the top (desc) or bottom (asc) end."""
    for end, hits in (("top", got["top"]), ("bottom", got["bottom"])):
        order = np.argsort(-logits if end == "top" else logits, kind="stable")[:TOP]
        ids = [h["token_id"] for h in hits]
        scale = max(1.0, float(np.max(np.abs(logits))))
        vals_ok = all(abs(h["logit"] - logits[h["token_id"]]) <= 1e-4 * scale for h in hits)
        check(vals_ok, f"{name} {end}: logits differ from numpy")
        # the same set up to near-ties at the boundary (f32 accumulation vs float64)
        kth = logits[order[-1]]
        same = all(i in ids for i in order if abs(logits[i] - kth) > 1e-4 * scale)
        check(len(ids) == TOP and same, f"{name} {end}: {ids} vs numpy {list(order)}")
        mono = all((hits[i]["logit"] >= hits[i + 1]["logit"]) if end == "top" else (hits[i]["logit"] <= hits[i + 1]["logit"])
                   for i in range(len(hits) - 1))
        check(mono, f"{name} {end}: not sorted")


def main():
    tmp = tempfile.mkdtemp(prefix="vx-lens-")
    try:
        for fx in ("tiny-llama", "tiny-qwen3", "tiny-gpt2", "tiny-gemma3"):
            d = os.path.join(tmp, fx + ".vx")
            r = run("extract", os.path.join(FIX, fx), "-o", d, "--unembed")
            check(r.returncode == 0, f"extract {fx}: {r.stderr}")
            idx, emb, norms, U, feats = load(d)
            check(idx.get("norm_eps") is not None, f"{fx}: norm_eps recorded ({idx.get('norm_eps')})")
            cfg = json.load(open(os.path.join(FIX, fx, "config.json")))
            want_eps = cfg.get("rms_norm_eps", cfg.get("layer_norm_epsilon"))
            check(abs(idx.get("norm_eps", -1) - want_eps) < 1e-15, f"{fx}: norm_eps {idx.get('norm_eps')} vs config {want_eps}")
            L = idx["num_layers"]
            for spec in (f"0:0:gate", f"{L - 1}:3:down", f"1:{idx['num_feats'] - 1}:down"):
                l, f, k = spec.split(":")
                r = run("lens", d, "--feature", spec, "-n", str(TOP), "--json")
                check(r.returncode == 0, f"{fx} lens {spec}: {r.stderr}")
                if r.returncode == 0:
                    agree(f"{fx} {spec}", json.loads(r.stdout), lens_ref(idx, norms, U, feats[k][int(l), int(f)]))
            for tok in ("#42", "#1000"):
                r = run("lens", d, "--token", tok, "-n", str(TOP), "--json")
                check(r.returncode == 0, f"{fx} lens {tok}: {r.stderr}")
                if r.returncode == 0:
                    v = emb[int(tok[1:])] * idx["embed_scale"]
                    agree(f"{fx} {tok}", json.loads(r.stdout), lens_ref(idx, norms, U, v))
            vec = np.random.default_rng(7).standard_normal(idx["hidden_size"]).astype("<f4")
            vf = os.path.join(tmp, fx + ".f32")
            vec.tofile(vf)
            r = run("lens", d, "--vector", vf, "-n", str(TOP), "--json")
            check(r.returncode == 0, f"{fx} lens --vector: {r.stderr}")
            if r.returncode == 0:
                agree(f"{fx} vector", json.loads(r.stdout), lens_ref(idx, norms, U, vec.astype(np.float64)))
            r = run("lens", d, "--feature", "0:0", "-n", "3")
            check(r.returncode == 0 and "largest logits" in r.stdout and "smallest logits" in r.stdout, f"{fx}: table output")

        # untied without --unembed: a clear refusal
        d = os.path.join(tmp, "noun.vx")
        run("extract", os.path.join(FIX, "tiny-llama"), "-o", d)
        r = run("lens", d, "--feature", "0:0")
        check(r.returncode == 1 and "--unembed" in r.stderr, f"untied without unembed: {r.returncode} {r.stderr}")
        # usage
        for args in ([d], [d, "--feature", "0:0", "--token", "#1"], [d, "--feature", "0:0", "-n", "0"], [d, "--bogus"],
                     [d, "--feature", "0:0", "--text"]):
            r = run("lens", *args)
            check(r.returncode == 2, f"usage {args}: exit {r.returncode}")
        r = run("lens", "--help")
        check(r.returncode == 0 and "logit lens" in r.stdout, "--help")
        r = run("lens", os.path.join(tmp, "tiny-llama.vx"), "--feature", "99:0")
        check(r.returncode == 1 and "out of range" in r.stderr, f"feature out of range: {r.stderr}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
