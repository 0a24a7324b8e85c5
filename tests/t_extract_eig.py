#!/usr/bin/python3
"""The extractor's two eigensolver paths (src/linalg.c: the two-stage reduction with
certified subspace iteration, and the one-stage reduction), through `vindex extract` on
Llama checkpoints wide enough for the two-stage path (H = 384, F = 24), against numpy
float64 SVDs of the stored BF16 weights, on a decaying, a flat (Gaussian, Marchenko–
Pastur) and an outlier spectrum: every stored σ within 1e-4 relative (the spec asks 1e-3), the whole spectrum
(spectra.bin) within 1e-3 relative for σ ≥ 1e-3·σ₁ (R-B1), the top-F subspace ≥ 0.999
(mean cos² of the principal angles) and the two paths' directions equal in subspace to
1e-5. VINDEX_EIG chooses the path. The Gram products of these BF16 weights run on
VDPBF16PS where the CPU has AVX-512 BF16 (src/gram.c) and on OpenBLAS's ssyrk with
VINDEX_GRAM=blas: both are held to the same bars, agree to 1e-5, and differ in their bits
exactly when the CPU has the instructions (so the default path is the bf16 one there).
Prints "N passed, N failed"."""
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

import ckptgen as G
from vxtest import VINDEX, check, cpu_bf16, finish

H, I, L, V, F = 384, 1024, 2, 256, 24
rng = np.random.default_rng(20261206)


def mlp(kind, rows, cols):
    a = rng.standard_normal((rows, cols)) * 0.02
    if kind == "decaying":
        a *= (1.0 / (1.0 + np.arange(cols) / 10.0) + 0.05)[None, :] if cols == H else (1.0 / (1.0 + np.arange(rows) / 10.0) + 0.05)[:, None]
    elif kind == "outliers":
        s = np.where(np.arange(H) < 4, 40.0, 1.0 / (1.0 + np.arange(H) / 10.0))
        a *= s[None, :] if cols == H else s[:, None]
    return a


def checkpoint(tmp, kind):
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H, "num_hidden_layers": L,
           "vocab_size": V, "intermediate_size": I, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
           "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 96}
    w = {"model.embed_tokens.weight": rng.standard_normal((V, H)) * 0.02, "model.norm.weight": np.ones(H),
         "lm_head.weight": rng.standard_normal((V, H)) * 0.02}
    for l in range(L):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = np.ones(H)
        w[p + "post_attention_layernorm.weight"] = np.ones(H)
        w[p + "mlp.gate_proj.weight"] = mlp(kind, I, H)
        w[p + "mlp.up_proj.weight"] = mlp("flat", I, H)
        w[p + "mlp.down_proj.weight"] = mlp(kind, H, I)
    stored = G.store(w)
    d = os.path.join(tmp, kind)
    G.write_ckpt(d, cfg, stored)
    ref = {n: G.dequant(stored, n) for n in stored}
    return d, [(ref[f"model.layers.{l}.mlp.gate_proj.weight"], ref[f"model.layers.{l}.mlp.down_proj.weight"]) for l in range(L)]


def extract(src, out, path):
    env = dict(os.environ, VINDEX_EIG=path.split("+")[0])
    if path.endswith("+blas"):
        env["VINDEX_GRAM"] = "blas"
    r = subprocess.run([VINDEX, "extract", src, "-o", out, "-f", str(F), "-q"], capture_output=True, text=True, env=env)
    check(r.returncode == 0, f"extract {src} ({path}): {r.stderr}")
    idx = json.load(open(os.path.join(out, "index.json")))
    gate = np.frombuffer(open(os.path.join(out, "gate_vectors.bin"), "rb").read(), np.float16).reshape(L, F, H)
    down = np.frombuffer(open(os.path.join(out, "down_features.bin"), "rb").read(), np.float16).reshape(L, F, H)
    raw = open(os.path.join(out, "spectra.bin"), "rb").read()
    spec = np.frombuffer(raw, "<f4").reshape(L, 2, H)
    return idx, gate.astype(np.float64), down.astype(np.float64), spec.astype(np.float64), raw


def subspace(a, b):
    qa, _ = np.linalg.qr(a.T)
    qb, _ = np.linalg.qr(b.T)
    return float(np.mean(np.linalg.svd(qa.T @ qb, compute_uv=False) ** 2))


def main():
    tmp = tempfile.mkdtemp(prefix="vx-eig-")
    try:
        for kind in ("decaying", "flat", "outliers"):
            src, mats = checkpoint(tmp, kind)
            got = {p: extract(src, os.path.join(tmp, f"{kind}.{p}"), p) for p in ("2stage", "tri", "2stage+blas")}
            for p, (idx, gate, down, spec, _) in got.items():
                for l, (g, d) in enumerate(mats):
                    for k, (m, stored, sig) in enumerate(((g, gate[l], idx["layers"][l]["gate_sigma"]),
                                                          (d.T, down[l], idx["layers"][l]["down_sigma"]))):
                        _, s, vt = np.linalg.svd(m, full_matrices=False)
                        what = f"{kind} {p} layer {l} {'gate' if k == 0 else 'down'}"
                        err = np.max(np.abs(np.array(sig) - s[:F]) / s[:F])
                        check(err <= 1e-4, f"{what}: sigma max rel err {err:.3g}")
                        full = np.zeros(H)
                        full[:len(s)] = s
                        keep = full >= 1e-3 * full[0]
                        serr = np.max(np.abs(spec[l, k][keep] - full[keep]) / full[keep])
                        check(serr <= 1e-3, f"{what}: spectrum max rel err {serr:.3g} over {keep.sum()} values")
                        sub = subspace(stored, vt[:F])
                        check(sub >= 0.999, f"{what}: subspace {sub:.6f}")
            for x, y in (("2stage", "tri"), ("2stage", "2stage+blas")):
                a, b = got[x], got[y]
                for l in range(L):
                    for k in (1, 2):
                        sub = subspace(a[k][l], b[k][l])
                        check(sub >= 1 - 1e-5, f"{kind} layer {l}: {x} and {y} directions differ ({1 - sub:.3g})")
                    for key in ("gate_sigma", "down_sigma"):
                        sa, sb = np.array(a[0]["layers"][l][key]), np.array(b[0]["layers"][l][key])
                        err = np.max(np.abs(sa - sb) / sb)
                        check(err <= 1e-5, f"{kind} layer {l} {key}: {x} and {y} differ by {err:.3g} relative")
            differ = got["2stage"][4] != got["2stage+blas"][4]
            check(differ == cpu_bf16(), f"{kind}: the bf16 Gram path {'ran' if differ else 'did not run'} "
                                        f"on a CPU {'with' if cpu_bf16() else 'without'} AVX-512 BF16")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
