#!/usr/bin/python3
"""Differential test of `vindex extract` against an independent numpy float64 reference.

For every fixture checkpoint: singular values (1e-3 relative), subspaces (mean squared
cosine of principal angles >= 0.999), sign convention, embeddings bit-identical to numpy's
float16 conversion, norms, down_meta vocabulary projections, index.json/manifest.json
fields, `sha256sum -c`, `verify` on the good vindex and on one flipped byte per file, and
the numpy loading snippet from DEVELOPERS.md. Prints "N passed, N failed".
"""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
from vxtest import BDIR, BUILD, FIX, ROOT, VINDEX, check, failures, finish  # noqa: F401




def read_safetensors(path):
    """Independent reader: header JSON + numpy views, converted to float64."""
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8 : 8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        raw = b[8 + n + s : 8 + n + e]
        if v["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif v["dtype"] == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        elif v["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        else:
            continue
        out[k] = a.reshape(v["shape"])
    return out


def load_ckpt(d):
    t = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            t.update(read_safetensors(os.path.join(d, f)))
    return t


def mlp_mats(name, t, L):
    """(gate [rows,H], down [H,cols], final norm effective weight, unembedding, embedding, norm offset)."""
    if name == "tiny-gpt2":
        p = "transformer."
        gates = [t[f"{p}h.{l}.mlp.c_fc.weight"].T for l in range(L)]   # Conv1D [in,out] -> Linear [out,in]
        downs = [t[f"{p}h.{l}.mlp.c_proj.weight"].T for l in range(L)]
        return gates, downs, t[p + "ln_f.weight"], t[p + "wte.weight"], t[p + "wte.weight"], 0.0
    gates = [t[f"model.layers.{l}.mlp.gate_proj.weight"] for l in range(L)]
    downs = [t[f"model.layers.{l}.mlp.down_proj.weight"] for l in range(L)]
    off = 1.0 if name == "tiny-gemma3" else 0.0
    emb = t["model.embed_tokens.weight"]
    unemb = t.get("lm_head.weight", emb)
    return gates, downs, t["model.norm.weight"] + off, unemb, emb, off


def subspace_score(A, B):
    """Mean squared cosine of the principal angles between row spaces of A [F,H] and B [F,H]."""
    qa, _ = np.linalg.qr(A.T)
    qb, _ = np.linalg.qr(B.T)
    s = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return float(np.mean(s**2))


def run(args, **kw):
    return subprocess.run([VINDEX] + args, capture_output=True, text=True, **kw)


def test_fixture(name, tmp, features):
    src = os.path.join(FIX, name)
    out = os.path.join(tmp, f"{name}-{features}")
    r = run(["extract", src, "-o", out, "--features", str(features), "--top-k", "8"])
    check(r.returncode == 0, f"{name}: extract exit {r.returncode}: {r.stderr}")
    if r.returncode:
        return None
    idx = json.load(open(os.path.join(out, "index.json")))
    cfg = json.load(open(os.path.join(src, "config.json")))
    L = idx["num_layers"]
    F, H, V, K = idx["num_feats"], idx["hidden_size"], idx["vocab_size"], idx["down_top_k"]
    t = load_ckpt(src)
    gates, downs, fnorm, unemb, emb, off = mlp_mats(name, t, L)
    check(L == cfg.get("num_hidden_layers", cfg.get("n_layer")), f"{name}: num_layers")
    check(F == min(features, H), f"{name}: F={F}, expected min({features}, {H})")
    check(V == emb.shape[0] and H == emb.shape[1], f"{name}: V/H")
    check(K == 8, f"{name}: down_top_k")
    check(idx["tied_embeddings"] == ("lm_head.weight" not in t), f"{name}: tied_embeddings")
    check(abs(idx["norm_offset"] - off) < 1e-9, f"{name}: norm_offset")
    want_scale = float(np.sqrt(H)) if name == "tiny-gemma3" else 1.0
    check(abs(idx["embed_scale"] - want_scale) < 1e-4, f"{name}: embed_scale {idx['embed_scale']}")
    for k in ("num_layers", "num_feats", "hidden_size", "vocab_size", "intermediate_size", "model_type",
              "architecture", "dtype", "embed_scale", "norm_offset", "tied_embeddings", "down_top_k", "layers", "files"):
        check(k in idx, f"{name}: index.json lacks {k}")

    # The numpy snippet from DEVELOPERS.md, verbatim.
    d = out
    idx2 = json.load(open(f"{d}/index.json")); L2, F2, H2 = idx2["num_layers"], idx2["num_feats"], idx2["hidden_size"]
    gate = np.frombuffer(open(f"{d}/gate_vectors.bin","rb").read(), dtype=np.float16).reshape(L2, F2, H2)
    embf = np.frombuffer(open(f"{d}/embeddings.bin","rb").read(), dtype=np.float16).reshape(idx2["vocab_size"], H2)
    down = np.frombuffer(open(f"{d}/down_features.bin", "rb").read(), dtype=np.float16).reshape(L, F, H)

    # Embeddings: bit-identical to numpy's float16 conversion (after the documented clamp).
    ref16 = np.clip(emb.astype(np.float32), -65504, 65504).astype(np.float16)
    check(np.array_equal(ref16.view(np.uint16), embf.view(np.uint16)), f"{name}: embeddings not bit-identical")

    worst_sigma = 0.0
    worst_sub = 1.0
    for l in range(L):
        for kind, M, stored, key in (("gate", gates[l], gate[l], "gate_sigma"), ("down", downs[l].T, down[l], "down_sigma")):
            # gate: right singular vectors of M [rows,H]; down: left singular vectors of D [H,cols] = right of D^T.
            _, s, vt = np.linalg.svd(M, full_matrices=False)
            sig = np.array(idx["layers"][l][key], dtype=np.float64)
            rel = np.max(np.abs(sig - s[:F]) / np.maximum(s[:F], 1e-30))
            worst_sigma = max(worst_sigma, rel)
            sub = subspace_score(stored.astype(np.float64), vt[:F])
            worst_sub = min(worst_sub, sub)
            st = stored.view(np.uint16)
            mag = st & 0x7FFF
            arg = np.argmax(mag, axis=1)  # first index of the maximum: lowest index on ties
            signs = st[np.arange(F), arg] & 0x8000
            check(not signs.any(), f"{name}: layer {l} {kind}: largest entry negative in {int((signs != 0).sum())} directions")
            norms = np.linalg.norm(stored.astype(np.float64), axis=1)
            check(np.all(np.abs(norms - 1) < 5e-3), f"{name}: layer {l} {kind}: directions not unit length")
    check(worst_sigma < 1e-3, f"{name}: singular values off by {worst_sigma:.3g} relative")
    check(worst_sub >= 0.999, f"{name}: subspace mean squared cosine {worst_sub:.6f}")

    # Norms: effective weights (raw + offset).
    nb = np.frombuffer(open(os.path.join(out, "norms.bin"), "rb").read(), dtype="<f4")
    final = [n for n in idx["norms"] if n["name"] == "norm"]
    check(len(final) == 1, f"{name}: final norm listed once")
    if final:
        n = final[0]
        got = nb[n["offset"] // 4 : n["offset"] // 4 + n["count"]]
        check(np.allclose(got, fnorm, rtol=0, atol=1e-6), f"{name}: final norm values")
    per_layer = sum(1 for n in idx["norms"] if n["layer"] is not None)
    check(per_layer >= 2 * L, f"{name}: {per_layer} per-layer norms")

    # down_meta: projections of the stored directions through (final norm ⊙ d), in float64.
    dm = open(os.path.join(out, "down_meta.bin"), "rb").read()
    check(dm[:8] == b"VXDMETA1", f"{name}: down_meta magic")
    hdr = struct.unpack("<6I", dm[8:32])
    check(hdr == (1, L, F, K, 2, 16 * K), f"{name}: down_meta header {hdr}")
    rec = np.frombuffer(dm[32:], dtype=[("id", "<u4"), ("v", "<f4")]).reshape(L, 2, F, 2 * K)
    dirs = np.stack([gate, down], axis=1).astype(np.float64)  # [L,2,F,H]
    proj = np.einsum("vh,lkfh->lkfv", unemb, dirs * fnorm)   # [L,2,F,V]
    bad = 0
    for l in range(L):
        for k in range(2):
            for f in range(F):
                p = proj[l, k, f]
                r = rec[l, k, f]
                hi_ids, lo_ids = r["id"][:K], r["id"][K:]
                # values recorded are the projections of those ids
                tol = 2e-3 * max(1.0, np.abs(p).max())
                ok = np.allclose(r["v"][:K], p[hi_ids], atol=tol) and np.allclose(r["v"][K:], p[lo_ids], atol=tol)
                # and they are the extremes: nothing outside beats the K-th by more than tol
                srt = np.sort(p)
                ok = ok and r["v"][K - 1] >= srt[-K] - tol and r["v"][2 * K - 1] <= srt[K - 1] + tol
                ok = ok and len(set(hi_ids.tolist())) == K and len(set(lo_ids.tolist())) == K
                bad += not ok
    check(bad == 0, f"{name}: {bad} down_meta records disagree with the float64 projection")

    man = json.load(open(os.path.join(out, "manifest.json")))
    for k in ("source", "source_files", "config_sha256", "tool_version", "options", "created_utc", "clamped"):
        check(k in man, f"{name}: manifest.json lacks {k}")
    cfg_sha = hashlib.sha256(open(os.path.join(src, "config.json"), "rb").read()).hexdigest()
    check(man.get("config_sha256") == cfg_sha, f"{name}: config_sha256")
    shards = [f for f in os.listdir(src) if f.endswith(".safetensors")]
    listed = {f["name"]: f for f in man.get("source_files", [])}
    for s in shards:
        ok = s in listed and listed[s]["sha256"] == hashlib.sha256(open(os.path.join(src, s), "rb").read()).hexdigest()
        check(ok, f"{name}: manifest source_files entry for {s}")
    check(open(os.path.join(out, "tokenizer.json"), "rb").read() == open(os.path.join(src, "tokenizer.json"), "rb").read(),
          f"{name}: tokenizer.json copied byte for byte")
    return out


def test_integrity(out):
    r = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    check(r.returncode == 0, f"sha256sum -c: {r.stdout}{r.stderr}")
    listed = sorted(l.split("  ", 1)[1].strip() for l in open(os.path.join(out, "SHA256SUMS")))
    check(listed == sorted(f for f in os.listdir(out) if f != "SHA256SUMS"), "SHA256SUMS covers exactly the files")
    r = run(["verify", out])
    check(r.returncode == 0, f"verify on a good vindex: exit {r.returncode} {r.stdout}{r.stderr}")
    r = run(["verify", out, "--json"])
    check(r.returncode == 0 and json.loads(r.stdout)["ok"] is True, "verify --json ok")
    # One flipped byte in any file makes verify exit 1 with a line naming the file.
    rng = np.random.default_rng(7)
    for f in sorted(os.listdir(out)):
        p = os.path.join(out, f)
        data = bytearray(open(p, "rb").read())
        pos = int(rng.integers(len(data)))
        data[pos] ^= 0x01 << int(rng.integers(8))
        bad = p + ".orig"
        shutil.copy(p, bad)
        open(p, "wb").write(bytes(data))
        os.rename(bad, os.path.join(os.path.dirname(out), "saved"))
        r = run(["verify", out])
        check(r.returncode == 1 and f in r.stdout, f"verify after flipping byte {pos} of {f}: exit {r.returncode}, out {r.stdout!r}")
        os.replace(os.path.join(os.path.dirname(out), "saved"), p)
    r = run(["verify", out])
    check(r.returncode == 0, "verify after restoring")
    r = run(["info", out, "--json"])
    check(r.returncode == 0 and json.loads(r.stdout)["num_layers"] > 0, "info --json")
    r = run(["info", out])
    check(r.returncode == 0 and "spectrum" in r.stdout, "info text")


def test_hub_cache(tmp):
    """A repo id resolves offline through $HF_HUB_CACHE (refs/main, or --revision naming a
    snapshot); manifest.json records the repo and the commit."""
    cache = os.path.join(tmp, "hub")
    repo = os.path.join(cache, "models--acme--tiny-qwen3")
    rev = "0123456789abcdef0123456789abcdef01234567"
    snap = os.path.join(repo, "snapshots", rev)
    os.makedirs(snap)
    os.makedirs(os.path.join(repo, "blobs"))
    os.makedirs(os.path.join(repo, "refs"))
    open(os.path.join(repo, "refs", "main"), "w").write(rev)
    src = os.path.join(FIX, "tiny-qwen3")
    for f in os.listdir(src):  # content-addressed blobs behind relative symlinks, as huggingface_hub does
        blob = hashlib.sha256(open(os.path.join(src, f), "rb").read()).hexdigest()
        shutil.copy(os.path.join(src, f), os.path.join(repo, "blobs", blob))
        os.symlink(os.path.join("..", "..", "blobs", blob), os.path.join(snap, f))
    env = dict(os.environ, HF_HUB_CACHE=cache)
    for extra in ([], ["--revision", rev]):
        out = os.path.join(tmp, "hub-out")
        shutil.rmtree(out, ignore_errors=True)
        r = subprocess.run([VINDEX, "extract", "acme/tiny-qwen3", "-o", out, "-f", "8"] + extra, capture_output=True, text=True, env=env)
        check(r.returncode == 0, f"hub cache {extra}: {r.stderr}")
        if r.returncode == 0:
            man = json.load(open(os.path.join(out, "manifest.json")))
            check(man["source"]["repo"] == "acme/tiny-qwen3" and man["source"]["revision"] == rev, f"hub provenance {man['source']}")
            check(json.load(open(os.path.join(out, "index.json")))["model"] == "acme/tiny-qwen3", "index.json model = repo id")
    r = subprocess.run([VINDEX, "extract", "acme/missing-model", "-o", os.path.join(tmp, "nope")], capture_output=True, text=True, env=env)
    check(r.returncode == 1 and "models--acme--missing-model" in r.stderr and not os.path.exists(os.path.join(tmp, "nope")),
          f"missing repo id: {r.returncode} {r.stderr!r}")


def main():
    tmp = tempfile.mkdtemp(prefix="vx-extract-")
    try:
        outs = []
        for name in ("tiny-llama", "tiny-qwen3", "tiny-gpt2", "tiny-gemma3"):
            o = test_fixture(name, tmp, 16)
            if o:
                outs.append(o)
        o = test_fixture("tiny-qwen3", tmp, 128)  # capped at H = 96
        if outs:
            test_integrity(outs[0])
        test_hub_cache(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
