#!/usr/bin/python3
"""Every family of format/arch.c's table, from synthetic checkpoints with the family's exact
tensor names, shapes, dtypes and config keys (tests/ckptgen.py), in BF16 and in the
quantised forms the family ships (FP8 with block, per-channel or per-tensor scales;
MXFP4). The reference is independent float64 numpy: ckptgen dequantises the stored bytes
itself, the stacked gate/down matrices of spec §3 are built here by name, and their SVD
gives sigma (1e-3 relative) and the top-F subspace (>= 0.999).

Also: an FP8 checkpoint and its BF16 original give the same vindex up to the quantisation's
own error (measured and printed); FP8 Grams on VDPBF16PS (src/gram.h, CPUs with AVX-512
BF16): where a layout fits (gate rows, down columns, dense and MoE, block and tensor scales)
the matrix's bytes differ from VINDEX_GRAM=blas's and its sigma agrees to 1e-5, where it
does not (a block straddling 32 values, 16 x 8 blocks) the bytes are the same, and the
battery's neuron norms are the same bytes either way; config keys under their other names (transformers 5's
num_local_experts for Qwen3-MoE; no expert count at all: counted from the tensors);
DeepSeek's multi-token-prediction layer is ignored and reported; refusals name the reason.
Prints "N passed, N failed".
"""
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

import ckptgen as G
from vxtest import VINDEX, check, cpu_bf16, finish

rng = np.random.default_rng(20261205)
V, H = 300, 32


def mat(rows, cols):
    """Random matrix with a decaying spectrum (distinct singular values), entries ~0.1."""
    k = min(rows, cols)
    u, _ = np.linalg.qr(rng.standard_normal((rows, k)))
    v, _ = np.linalg.qr(rng.standard_normal((cols, k)))
    return (u * (2.0 / (1.0 + np.arange(k) / 3.0))) @ v.T


def base(cfg_extra, arch, mt, L, norms=("input_layernorm", "post_attention_layernorm"), tied=False):
    cfg = {"architectures": [arch], "model_type": mt, "hidden_size": H, "num_hidden_layers": L, "vocab_size": V,
           "tie_word_embeddings": tied, "torch_dtype": "bfloat16", "num_attention_heads": 4, "num_key_value_heads": 2,
           "head_dim": 8}
    cfg.update(cfg_extra)
    w = {"model.embed_tokens.weight": rng.standard_normal((V, H)), "model.norm.weight": rng.uniform(0.5, 1.5, H)}
    if not tied:
        w["lm_head.weight"] = rng.standard_normal((V, H))
    for l in range(L):
        for n in norms:
            w[f"model.layers.{l}.{n}.weight"] = rng.uniform(0.5, 1.5, H)
        w[f"model.layers.{l}.self_attn.q_proj.weight"] = rng.standard_normal((32, H)) * 0.1
    return cfg, w


def experts(w, p, E, I, names=("gate_proj", "up_proj", "down_proj")):
    g, u, d = names
    for e in range(E):
        q = f"{p}experts.{e}."
        w[q + g + ".weight"], w[q + u + ".weight"], w[q + d + ".weight"] = mat(I, H), mat(I, H), mat(H, I)


def dense(w, p, I):
    w[p + "gate_proj.weight"], w[p + "up_proj.weight"], w[p + "down_proj.weight"] = mat(I, H), mat(I, H), mat(H, I)


# Each family builder returns (name, config, float64 weights, refs(deq) -> [(gate [rows,H], down [H,cols])]).

def llama(L=2, I=40):
    cfg, w = base({"intermediate_size": I}, "LlamaForCausalLM", "llama", L)
    for l in range(L):
        dense(w, f"model.layers.{l}.mlp.", I)
    return "llama", cfg, w, lambda q: [(q(f"model.layers.{l}.mlp.gate_proj.weight"), q(f"model.layers.{l}.mlp.down_proj.weight")) for l in range(L)]


def per_expert_refs(q, p, E, names=("gate_proj", "down_proj"), shared=None):
    gs = [q(f"{p}experts.{e}.{names[0]}.weight") for e in range(E)]
    ds = [q(f"{p}experts.{e}.{names[1]}.weight") for e in range(E)]
    if shared:
        gs.append(q(f"{p}{shared}gate_proj.weight"))
        ds.append(q(f"{p}{shared}down_proj.weight"))
    return np.vstack(gs), np.hstack(ds)


def mixtral(L=2, E=4, I=12):
    cfg, w = base({"intermediate_size": I, "num_local_experts": E, "num_experts_per_tok": 2}, "MixtralForCausalLM", "mixtral", L)
    for l in range(L):
        p = f"model.layers.{l}.block_sparse_moe."
        w[p + "gate.weight"] = rng.standard_normal((E, H))
        experts(w, p, E, I, ("w1", "w3", "w2"))
    return "mixtral", cfg, w, lambda q: [per_expert_refs(q, f"model.layers.{l}.block_sparse_moe.", E, ("w1", "w2")) for l in range(L)]


def mixtral_fused(L=2, E=3, I=12):
    """transformers 5 in-memory layout saved as is: mlp.experts.gate_up_proj [E, 2I, H]."""
    cfg, w = base({"intermediate_size": I, "num_local_experts": E}, "MixtralForCausalLM", "mixtral", L)
    for l in range(L):
        p = f"model.layers.{l}.mlp."
        w[p + "gate.weight"] = rng.standard_normal((E, H))
        w[p + "experts.gate_up_proj"] = np.stack([np.vstack([mat(I, H), mat(I, H)]) for _ in range(E)])
        w[p + "experts.down_proj"] = np.stack([mat(H, I) for _ in range(E)])

    def refs(q):
        out = []
        for l in range(L):
            gu, dp = q(f"model.layers.{l}.mlp.experts.gate_up_proj"), q(f"model.layers.{l}.mlp.experts.down_proj")
            out.append((np.vstack([gu[e, :I] for e in range(E)]), np.hstack([dp[e] for e in range(E)])))
        return out
    return "mixtral-fused", cfg, w, refs


def qwen_moe(arch, mt, L=4, E=6, I=40, Im=8, Is=10, step=2, cfg_experts_key="num_experts", gemma_norms=False):
    extra = {"intermediate_size": I, "moe_intermediate_size": Im, "shared_expert_intermediate_size": Is,
             "decoder_sparse_step": step, "mlp_only_layers": [], "num_experts_per_tok": 2}
    if cfg_experts_key:
        extra[cfg_experts_key] = E
    cfg, w = base(extra, arch, mt, L)
    sparse = [(l + 1) % step == 0 for l in range(L)]
    for l in range(L):
        p = f"model.layers.{l}.mlp."
        if not sparse[l]:
            dense(w, p, I)
            continue
        w[p + "gate.weight"] = rng.standard_normal((E, H))
        w[p + "shared_expert_gate.weight"] = rng.standard_normal((1, H))
        experts(w, p, E, Im)
        dense(w, p + "shared_expert.", Is)
    if mt == "qwen3_next":  # linear-attention and MTP tensors: not MLP, ignored
        w["model.layers.0.linear_attn.in_proj_qkvz.weight"] = rng.standard_normal((16, H))
        w["mtp.fc.weight"] = rng.standard_normal((H, 2 * H))

    def refs(q):
        return [per_expert_refs(q, f"model.layers.{l}.mlp.", E, shared="shared_expert.") if sparse[l]
                else (q(f"model.layers.{l}.mlp.gate_proj.weight"), q(f"model.layers.{l}.mlp.down_proj.weight"))
                for l in range(L)]
    return f"{mt}-{cfg_experts_key or 'nokey'}", cfg, w, refs


def deepseek(L=3, E=4, Im=8, ns=2, I=48):
    extra = {"intermediate_size": I, "moe_intermediate_size": Im, "n_routed_experts": E, "n_shared_experts": ns,
             "first_k_dense_replace": 1, "moe_layer_freq": 1, "num_nextn_predict_layers": 1, "num_experts_per_tok": 2}
    cfg, w = base(extra, "DeepseekV3ForCausalLM", "deepseek_v3", L)
    for l in range(L + 1):  # layer L is the multi-token-prediction module
        p = f"model.layers.{l}.mlp."
        if l == 0:
            dense(w, p, I)
            continue
        w[p + "gate.weight"] = rng.standard_normal((E, H))
        w[p + "gate.e_score_correction_bias"] = rng.standard_normal(E)
        experts(w, p, E, Im)
        dense(w, p + "shared_experts.", ns * Im)
    w[f"model.layers.{L}.eh_proj.weight"] = rng.standard_normal((H, 2 * H))
    w[f"model.layers.{L}.enorm.weight"] = rng.uniform(0.5, 1.5, H)

    def refs(q):
        return [(q("model.layers.0.mlp.gate_proj.weight"), q("model.layers.0.mlp.down_proj.weight"))] + \
               [per_expert_refs(q, f"model.layers.{l}.mlp.", E, shared="shared_experts.") for l in range(1, L)]
    return "deepseek_v3", cfg, w, refs


def gpt_oss(L=2, E=3, I=32):
    """transformers' parameter layout (BF16): gate_up_proj [E, H, 2I], gate = even columns;
    down_proj [E, I, H]. The MXFP4 form is written from the same values (quantised
    output-major: [E, 2I, H] and [E, H, I]) by ckpt_stored below."""
    cfg, w = base({"intermediate_size": I, "num_local_experts": E, "experts_per_token": 2}, "GptOssForCausalLM", "gpt_oss", L)
    for l in range(L):
        p = f"model.layers.{l}.mlp."
        w[p + "router.weight"] = rng.standard_normal((E, H))
        w[p + "router.bias"] = rng.standard_normal(E)
        gu = np.stack([np.vstack([mat(I, H), mat(I, H)]) for _ in range(E)])  # [E, 2I, H]: gate rows then up rows
        inter = np.empty_like(gu)
        inter[:, 0::2], inter[:, 1::2] = gu[:, :I], gu[:, I:]                   # interleaved rows
        w[p + "experts.gate_up_proj"] = inter.transpose(0, 2, 1)                # [E, H, 2I]
        w[p + "experts.gate_up_proj_bias"] = rng.standard_normal((E, 2 * I))
        w[p + "experts.down_proj"] = np.stack([mat(I, H) for _ in range(E)])   # [E, I, H]
        w[p + "experts.down_proj_bias"] = rng.standard_normal((E, H))

    def refs(q):
        out = []
        for l in range(L):
            p = f"model.layers.{l}.mlp."
            gu = q(p + "experts.gate_up_proj")
            dp = q(p + "experts.down_proj")
            if gu.shape[1] == H:  # parameter layout
                gs = [gu[e][:, 0::2].T for e in range(E)]
                ds = [dp[e].T for e in range(E)]
            else:                 # MXFP4 logical layout [E, 2I, H], [E, H, I]
                gs = [gu[e][0::2] for e in range(E)]
                ds = [dp[e] for e in range(E)]
            out.append((np.vstack(gs), np.hstack(ds)))
        return out
    return "gpt_oss", cfg, w, refs


def gemma1(L=2, I=40):
    cfg, w = base({"intermediate_size": I}, "GemmaForCausalLM", "gemma", L, tied=True)
    for l in range(L):
        dense(w, f"model.layers.{l}.mlp.", I)
    return "gemma", cfg, w, lambda q: [(q(f"model.layers.{l}.mlp.gate_proj.weight"), q(f"model.layers.{l}.mlp.down_proj.weight")) for l in range(L)]


def olmo2(L=2, I=40):
    cfg, w = base({"intermediate_size": I}, "Olmo2ForCausalLM", "olmo2", L,
                  norms=("post_attention_layernorm", "post_feedforward_layernorm"))
    for l in range(L):
        dense(w, f"model.layers.{l}.mlp.", I)
        w[f"model.layers.{l}.self_attn.q_norm.weight"] = rng.uniform(0.5, 1.5, 32)
    return "olmo2", cfg, w, lambda q: [(q(f"model.layers.{l}.mlp.gate_proj.weight"), q(f"model.layers.{l}.mlp.down_proj.weight")) for l in range(L)]


def is_mlp_weight(n):
    return (".mlp." in n or ".block_sparse_moe." in n) and not any(x in n for x in ("gate.weight", "router", "_bias", "gate.e_score"))


def ckpt_stored(w, quant, block):
    if quant == "mxfp4":  # gpt-oss: blocks are stored output-major
        w2 = {}
        for n, a in w.items():
            w2[n] = a.transpose(0, 2, 1) if n.endswith("experts.gate_up_proj") or n.endswith("experts.down_proj") else a
        return G.store(w2, "mxfp4", lambda n: n.endswith("experts.gate_up_proj") or n.endswith("experts.down_proj"))
    return G.store(w, quant, is_mlp_weight if quant else (lambda n: False), block)


def build(tmp, fam, quant=None, block=(16, 8)):
    name, cfg, w, refs = fam
    if quant:
        cfg = dict(cfg, quantization_config=G.quant_config(quant, block))
    stored = ckpt_stored(w, quant, block)
    d = os.path.join(tmp, f"{name}-{quant or 'bf16'}")
    if os.path.isdir(d):
        shutil.rmtree(d)
        shutil.rmtree(d + ".vx", ignore_errors=True)
    G.write_ckpt(d, cfg, stored, shards=2 if quant else 1)
    deq = {n: (dt, a) for n, (dt, a) in stored.items()}

    def q(n):
        return G.dequant(deq, n, block)
    return d, refs(q)


def extract(d, F, extra=()):
    out = d + ".vx"
    r = subprocess.run([VINDEX, "extract", d, "-o", out, "-f", str(F), "-k", "4", *extra], capture_output=True, text=True)
    check(r.returncode == 0, f"extract {os.path.basename(d)}: {r.stderr.strip()}")
    if r.returncode:
        return None, r
    r2 = subprocess.run([VINDEX, "verify", out], capture_output=True, text=True)
    check(r2.returncode == 0, f"verify {os.path.basename(d)}: {r2.stdout}{r2.stderr}")
    return out, r


def load(out):
    idx = json.load(open(os.path.join(out, "index.json")))
    L, F = idx["num_layers"], idx["num_feats"]
    gate = np.frombuffer(open(os.path.join(out, "gate_vectors.bin"), "rb").read(), dtype=np.float16).reshape(L, F, H)
    down = np.frombuffer(open(os.path.join(out, "down_features.bin"), "rb").read(), dtype=np.float16).reshape(L, F, H)
    return idx, gate, down


def subspace(a, b):
    qa, _ = np.linalg.qr(a.astype(np.float64).T)
    qb, _ = np.linalg.qr(b.astype(np.float64).T)
    return float(np.mean(np.linalg.svd(qa.T @ qb, compute_uv=False) ** 2))


def against_oracle(label, out, refs, F):
    idx, gate, down = load(out)
    check(idx["num_layers"] == len(refs), f"{label}: {idx['num_layers']} layers, expected {len(refs)}")
    worst_s, worst_sub = 0.0, 1.0
    for l, (Gm, Dm) in enumerate(refs):
        for kind, M, st, key in (("gate", Gm, gate[l], "gate_sigma"), ("down", Dm.T, down[l], "down_sigma")):
            _, s, vt = np.linalg.svd(M, full_matrices=False)
            sig = np.array(idx["layers"][l][key])
            rel = float(np.max(np.abs(sig - s[:F]) / s[:F]))
            sub = subspace(st, vt[:F])
            worst_s, worst_sub = max(worst_s, rel), min(worst_sub, sub)
            check(rel < 1e-3, f"{label}: layer {l} {kind}: sigma rel err {rel:.3g}")
            check(sub >= 0.999, f"{label}: layer {l} {kind}: subspace {sub:.6f}")
            ns = [n for n in idx["layers"][l].get("neurons", {}).get("kinds", [])]
            if ns:
                check(idx["layers"][l]["neurons"]["count"] == M.shape[0] if kind == "gate" else True,
                      f"{label}: layer {l}: neurons count {idx['layers'][l]['neurons']['count']} vs stacked {M.shape[0]}")
    return idx


def fp8_grams(tmp, F):
    """FP8 Grams from the stored numbers with each slab's scales, and MXFP4 ones from the
    values (gram.h), against ssyrk of the dequantised values (VINDEX_GRAM=blas): (family,
    quant, block, gate's G rounds differently, down's does): a layout the fast path declines
    gives the same bits."""
    fast = cpu_bf16()
    cases = [
        (llama(I=96), "fp8-block", (32, 32), True, True),     # rows and columns, 3 slabs each
        (llama(I=100), "fp8-block", (2, 32), True, False),    # slabs of 2; down: a block of 2 values straddles a group
        (deepseek(), "fp8-block", (32, 8), False, True),      # experts' 8 rows in a block of 32: gate declined
        (llama(), "fp8-tensor", (16, 8), True, True),
        (llama(), "fp8-block", (16, 8), False, False),        # 8-value blocks: neither
        # E2M1 times a power of two: bf16 numbers, taken, and their products (4 significant
        # bits) sum exactly in f32 in any order at this size: the same bits as ssyrk's
        (gpt_oss(), "mxfp4", (16, 8), False, False),
    ]
    for fam, quant, block, g_in, d_in in cases:
        d, refs = build(tmp, fam, quant, block)
        d2 = shutil.copytree(d, d + "-blas")
        label = f"{os.path.basename(d)} {block}"
        out, _ = extract(d, F)
        os.environ["VINDEX_GRAM"] = "blas"
        try:
            ref, _ = extract(d2, F)
        finally:
            del os.environ["VINDEX_GRAM"]
        if not out or not ref:
            continue
        against_oracle(label, out, refs, F)
        a, b = json.load(open(os.path.join(out, "index.json"))), json.load(open(os.path.join(ref, "index.json")))
        srel = max(float(np.max(np.abs(np.array(a["layers"][l][k]) - np.array(b["layers"][l][k])) / np.array(b["layers"][l][k])))
                   for l in range(len(a["layers"])) for k in ("gate_sigma", "down_sigma"))
        check(srel <= 1e-5, f"{label}: sigma vs VINDEX_GRAM=blas: {srel:.3g}")

        def raw(o, f):
            return open(os.path.join(o, f), "rb").read()
        check(raw(out, "neurons.bin") == raw(ref, "neurons.bin"), f"{label}: neuron norms the same bytes as VINDEX_GRAM=blas")
        # spectra.bin [L][2][H]: beyond F, G's own eigenvalues, which change with G's rounding
        sa, sb = (np.frombuffer(raw(o, "spectra.bin"), dtype=np.float32).reshape(-1, 2, H) for o in (out, ref))
        for k, kind, taken in ((0, "gate", g_in and fast), (1, "down", d_in and fast)):
            check(np.array_equal(sa[:, k], sb[:, k]) != taken,
                  f"{label}: {kind} spectrum {'differs from' if taken else 'is'} VINDEX_GRAM=blas's")
        for x in (d, d2, out, ref):
            shutil.rmtree(x, ignore_errors=True)


def main():
    tmp = tempfile.mkdtemp(prefix="vx-fam-")
    F = 6
    try:
        cases = [
            (llama(), None), (llama(), "fp8-tensor"), (mixtral(), None), (mixtral(), "fp8-channel"), (mixtral_fused(), None),
            (qwen_moe("Qwen2MoeForCausalLM", "qwen2_moe"), None),
            (qwen_moe("Qwen3NextForCausalLM", "qwen3_next", L=2, E=64, Im=4, step=1), None),
            (qwen_moe("Qwen3NextForCausalLM", "qwen3_next", L=2, E=16, Im=8, step=1), "fp8-block"),
            (qwen_moe("Qwen3MoeForCausalLM", "qwen3_moe", cfg_experts_key="num_local_experts"), None),
            (qwen_moe("Qwen3MoeForCausalLM", "qwen3_moe", cfg_experts_key=None), None),
            (deepseek(), None), (deepseek(), "fp8-block"), (gpt_oss(), None), (gpt_oss(), "mxfp4"),
            (gemma1(), None), (olmo2(), None),
        ]
        for fam, quant in cases:
            d, refs = build(tmp, fam, quant)
            label = os.path.basename(d)
            out, r = extract(d, F)
            if not out:
                continue
            idx = against_oracle(label, out, refs, F)
            if fam[0] == "deepseek_v3":
                check("multi-token-prediction" in r.stderr and "3..3" in r.stderr, f"{label}: MTP layer reported: {r.stderr}")
                check(idx["layers"][0].get("num_experts") is None and idx["layers"][1].get("num_experts") == 4,
                      f"{label}: first_k_dense_replace")
            if fam[0] in ("gemma",) or "qwen3_next" in fam[0]:
                check(abs(idx["norm_offset"] - 1) < 1e-9, f"{label}: norm_offset 1 (x·(1+w))")
            if fam[0] == "gemma":
                check(abs(idx["embed_scale"] - H ** 0.5) < 1e-4, f"{label}: embed_scale")
            if "nokey" in fam[0] or "num_local_experts" in fam[0]:
                check(idx["layers"][1].get("num_experts") == 6, f"{label}: expert count from {fam[0]}")

        # An FP8 checkpoint against its BF16 original: the same vindex up to FP8's own error.
        fam = deepseek()
        d16, _ = build(tmp, fam, None)
        d8, _ = build(tmp, fam, "fp8-block")
        (o16, _), (o8, _) = extract(d16, F), extract(d8, F)
        if o16 and o8:
            i16, g16, w16 = load(o16)
            i8, g8, w8 = load(o8)
            srel = max(float(np.max(np.abs(np.array(i8["layers"][l][k]) - np.array(i16["layers"][l][k])) /
                                    np.array(i16["layers"][l][k]))) for l in range(3) for k in ("gate_sigma", "down_sigma"))
            sub = min(min(subspace(g8[l], g16[l]), subspace(w8[l], w16[l])) for l in range(3))
            print(f"fp8-block vs bf16 (DeepSeek-V3 shape): max sigma rel diff {srel:.4f}, min top-{F} subspace {sub:.4f}")
            check(srel < 0.05 and sub > 0.98, f"fp8 vs bf16: sigma {srel:.4f}, subspace {sub:.4f}")

        fp8_grams(tmp, F)

        # Refusals name the reason.
        name, cfg, w, _ = llama()
        st = G.store(w, "fp8-block", is_mlp_weight)
        del st["model.layers.0.mlp.gate_proj.weight_scale_inv"]
        d = os.path.join(tmp, "fp8-noscale")
        G.write_ckpt(d, dict(cfg, quantization_config=G.quant_config("fp8-block")), st)
        r = subprocess.run([VINDEX, "extract", d, "-o", d + ".vx"], capture_output=True, text=True)
        check(r.returncode == 1 and "gate_proj.weight" in r.stderr and "scale" in r.stderr, f"fp8 without scales: {r.stderr}")
        st = G.store(w, "fp8-block", is_mlp_weight)
        st["model.layers.1.mlp.down_proj.weight_scale_inv"] = ("F32", np.ones((1, 1), dtype=np.float32))
        d = os.path.join(tmp, "fp8-badscale")
        G.write_ckpt(d, dict(cfg, quantization_config=G.quant_config("fp8-block")), st)
        r = subprocess.run([VINDEX, "extract", d, "-o", d + ".vx"], capture_output=True, text=True)
        check(r.returncode == 1 and "down_proj.weight_scale_inv" in r.stderr and "needs" in r.stderr, f"fp8 bad scale shape: {r.stderr}")
        d = os.path.join(tmp, "quant-unknown")
        G.write_ckpt(d, dict(cfg, quantization_config={"quant_method": "gptq", "bits": 4}), G.store(w))
        r = subprocess.run([VINDEX, "extract", d, "-o", d + ".vx"], capture_output=True, text=True)
        check(r.returncode == 1 and "gptq" in r.stderr, f"unknown quant_method: {r.stderr}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
