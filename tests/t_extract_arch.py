#!/usr/bin/python3
"""End-to-end extraction of architectures the fixture checkpoints do not cover, against a
float64 numpy reference of the stacked matrices the spec defines (spec R-E1):

- Qwen3-MoE with per-expert tensors and a shared expert; one dense layer (mlp_only_layers);
- Qwen3-MoE with fused 3-D experts.gate_up_proj [E,2I,H] / experts.down_proj [E,H,I];
- Phi-3 fused gate_up_proj (gate = first half of the rows);
- Gemma 3 multimodal (text_config) with both weight prefixes;
- GPT-2 without the `transformer.` prefix;
- BF16 sharded (Mistral) with model.safetensors.index.json.

Checkpoints are written here with random weights of a decaying spectrum.
Prints "N passed, N failed".
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
from vxtest import BDIR, BUILD, FIX, ROOT, VINDEX, check, failures, finish  # noqa: F401

TOKENIZER = os.path.join(ROOT, "tests", "fixtures", "tiny-llama", "tokenizer.json")
rng = np.random.default_rng(1234)
V, H = 300, 32



def mat(rows, cols):
    """Random matrix with a decaying spectrum (distinct singular values)."""
    u, _ = np.linalg.qr(rng.standard_normal((rows, min(rows, cols))))
    v, _ = np.linalg.qr(rng.standard_normal((cols, min(rows, cols))))
    s = 1.0 / (1.0 + np.arange(min(rows, cols)) / 3.0)
    return (u * s) @ v.T


def to_bytes(a, dtype):
    a = np.asarray(a, dtype=np.float64)
    if dtype == "F32":
        return a.astype("<f4").tobytes(), a.astype(np.float32).astype(np.float64)
    if dtype == "F16":
        h = a.astype("<f2")
        return h.tobytes(), h.astype(np.float64)
    f = a.astype(np.float32).view(np.uint32)
    r = ((f + 0x7FFF + ((f >> 16) & 1)) >> 16).astype("<u2")  # round to nearest even
    return r.tobytes(), (r.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def write_st(path, tensors, dtype):
    """tensors: name -> array. Returns name -> the values as stored (float64)."""
    header, blobs, stored, off = {}, [], {}, 0
    for name in sorted(tensors):
        b, v = to_bytes(tensors[name], dtype)
        header[name] = {"dtype": dtype, "shape": list(np.shape(tensors[name])), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        stored[name] = v.reshape(np.shape(tensors[name]))
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    return stored


def make(d, config, tensors, dtype="BF16", shards=1):
    os.makedirs(d)
    json.dump(config, open(os.path.join(d, "config.json"), "w"))
    shutil.copy(TOKENIZER, os.path.join(d, "tokenizer.json"))
    names = sorted(tensors)
    if shards == 1:
        return write_st(os.path.join(d, "model.safetensors"), tensors, dtype)
    stored, wm = {}, {}
    for i in range(shards):
        fn = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[i::shards]}
        stored.update(write_st(os.path.join(d, fn), part, dtype))
        wm.update({n: fn for n in part})
    json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, open(os.path.join(d, "model.safetensors.index.json"), "w"))
    return stored


def llama_like(prefix, L, I, gemma=False):
    t = {f"{prefix}embed_tokens.weight": rng.standard_normal((V, H)), f"{prefix}norm.weight": rng.uniform(0.5, 1.5, H)}
    for l in range(L):
        p = f"{prefix}layers.{l}."
        t[p + "mlp.gate_proj.weight"] = mat(I, H)
        t[p + "mlp.up_proj.weight"] = mat(I, H)
        t[p + "mlp.down_proj.weight"] = mat(H, I)
        norms = ["input_layernorm", "post_attention_layernorm"]
        if gemma:
            norms += ["pre_feedforward_layernorm", "post_feedforward_layernorm"]
        for n in norms:
            t[p + n + ".weight"] = rng.uniform(0.5, 1.5, H)
    return t


def svd_ref(M, F):
    _, s, vt = np.linalg.svd(M, full_matrices=False)
    return s[:F], vt[:F]


def compare(name, out, refs, F):
    """refs: per layer (gate matrix [rows,H], down matrix [H,cols])."""
    idx = json.load(open(os.path.join(out, "index.json")))
    L = idx["num_layers"]
    check(L == len(refs), f"{name}: {L} layers, expected {len(refs)}")
    check(idx["num_feats"] == F, f"{name}: num_feats {idx['num_feats']}, expected {F}")
    gate = np.frombuffer(open(os.path.join(out, "gate_vectors.bin"), "rb").read(), dtype=np.float16).reshape(L, -1, H)
    down = np.frombuffer(open(os.path.join(out, "down_features.bin"), "rb").read(), dtype=np.float16).reshape(L, -1, H)
    for l, (G, D) in enumerate(refs):
        for kind, M, stored, key in (("gate", G, gate[l], "gate_sigma"), ("down", D.T, down[l], "down_sigma")):
            s, vt = svd_ref(M, F)
            sig = np.array(idx["layers"][l][key])
            rel = float(np.max(np.abs(sig - s) / s))
            qa, _ = np.linalg.qr(stored.astype(np.float64).T)
            sub = float(np.mean(np.linalg.svd(qa.T @ vt.T, compute_uv=False) ** 2))
            check(rel < 1e-3, f"{name}: layer {l} {kind}: sigma rel err {rel:.3g}")
            check(sub >= 0.999, f"{name}: layer {l} {kind}: subspace {sub:.6f}")
    return idx


def extract(d, out, F):
    r = subprocess.run([VINDEX, "extract", d, "-o", out, "-f", str(F), "-k", "4"], capture_output=True, text=True)
    check(r.returncode == 0, f"extract {os.path.basename(d)}: {r.stderr.strip()}")
    if r.returncode == 0:
        r2 = subprocess.run([VINDEX, "verify", out], capture_output=True, text=True)
        check(r2.returncode == 0, f"verify {os.path.basename(d)}: {r2.stdout}{r2.stderr}")
    return r.returncode == 0


def qwen3_moe_weights(fused, shared):
    """A Qwen3-MoE checkpoint's config and weights: layer 1 dense (mlp_only_layers), the
    others E experts stored one tensor per expert or fused, plus a shared expert when
    `shared`; the routers are there (recognised, not read). Returns cfg, tensors, dims."""
    L, E, I, Im, Is = 3, 4, 48, 12, 10
    cfg = {"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "hidden_size": H, "intermediate_size": I,
           "moe_intermediate_size": Im, "num_experts": E, "num_experts_per_tok": 2, "decoder_sparse_step": 1,
           "mlp_only_layers": [1], "num_hidden_layers": L, "vocab_size": V, "tie_word_embeddings": True,
           "torch_dtype": "bfloat16", "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8}
    if shared:
        cfg["shared_expert_intermediate_size"] = Is
    t = {"model.embed_tokens.weight": rng.standard_normal((V, H)), "model.norm.weight": rng.uniform(0.5, 1.5, H)}
    for l in range(L):
        p = f"model.layers.{l}."
        t[p + "input_layernorm.weight"] = rng.uniform(0.5, 1.5, H)
        t[p + "post_attention_layernorm.weight"] = rng.uniform(0.5, 1.5, H)
        if l == 1:
            t[p + "mlp.gate_proj.weight"], t[p + "mlp.up_proj.weight"], t[p + "mlp.down_proj.weight"] = mat(I, H), mat(I, H), mat(H, I)
            continue
        t[p + "mlp.gate.weight"] = rng.standard_normal((E, H))  # router: recognised, unused
        if fused:
            t[p + "mlp.experts.gate_up_proj"] = np.stack([np.vstack([mat(Im, H), mat(Im, H)]) for _ in range(E)])
            t[p + "mlp.experts.down_proj"] = np.stack([mat(H, Im) for _ in range(E)])
        else:
            for e in range(E):
                q = f"{p}mlp.experts.{e}."
                t[q + "gate_proj.weight"], t[q + "up_proj.weight"], t[q + "down_proj.weight"] = mat(Im, H), mat(Im, H), mat(H, Im)
        if shared:
            q = p + "mlp.shared_expert."
            t[q + "gate_proj.weight"], t[q + "up_proj.weight"], t[q + "down_proj.weight"] = mat(Is, H), mat(Is, H), mat(H, Is)
            t[p + "mlp.shared_expert_gate.weight"] = rng.standard_normal((1, H))
    return cfg, t, (L, E, I, Im, Is)


def qwen3_moe(tmp, fused, shared):
    cfg, t, (L, E, I, Im, Is) = qwen3_moe_weights(fused, shared)
    name = f"qwen3-moe-{'fused' if fused else 'experts'}{'-shared' if shared else ''}"
    d = os.path.join(tmp, name)
    st = make(d, cfg, t)
    refs = []
    for l in range(L):
        p = f"model.layers.{l}."
        if l == 1:
            refs.append((st[p + "mlp.gate_proj.weight"], st[p + "mlp.down_proj.weight"]))
            continue
        if fused:
            gs = [st[p + "mlp.experts.gate_up_proj"][e, :Im] for e in range(E)]
            ds = [st[p + "mlp.experts.down_proj"][e] for e in range(E)]
        else:
            gs = [st[f"{p}mlp.experts.{e}.gate_proj.weight"] for e in range(E)]
            ds = [st[f"{p}mlp.experts.{e}.down_proj.weight"] for e in range(E)]
        if shared:
            gs.append(st[p + "mlp.shared_expert.gate_proj.weight"])
            ds.append(st[p + "mlp.shared_expert.down_proj.weight"])
        refs.append((np.vstack(gs), np.hstack(ds)))  # gate stacked row-wise, down column-wise
    out = d + ".vx"
    F = 8
    if extract(d, out, F):
        idx = compare(name, out, refs, F)
        check(idx["layers"][0].get("num_experts") == E and "num_experts" not in idx["layers"][1],
              f"{name}: num_experts per layer")


def phi3(tmp):
    L, I = 2, 40
    cfg = {"architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_size": H, "intermediate_size": I,
           "num_hidden_layers": L, "vocab_size": V, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
           "num_attention_heads": 4}
    t = {"model.embed_tokens.weight": rng.standard_normal((V, H)), "model.norm.weight": rng.uniform(0.5, 1.5, H),
         "lm_head.weight": rng.standard_normal((V, H))}
    for l in range(L):
        p = f"model.layers.{l}."
        t[p + "mlp.gate_up_proj.weight"] = np.vstack([mat(I, H), mat(I, H)])
        t[p + "mlp.down_proj.weight"] = mat(H, I)
        t[p + "input_layernorm.weight"] = rng.uniform(0.5, 1.5, H)
        t[p + "post_attention_layernorm.weight"] = rng.uniform(0.5, 1.5, H)
    d = os.path.join(tmp, "phi3")
    st = make(d, cfg, t)
    refs = [(st[f"model.layers.{l}.mlp.gate_up_proj.weight"][:I], st[f"model.layers.{l}.mlp.down_proj.weight"]) for l in range(L)]
    if extract(d, d + ".vx", 12):
        idx = compare("phi3", d + ".vx", refs, 12)
        check(idx["tied_embeddings"] is False, "phi3: untied")


def gemma3_mm(tmp, prefix):
    L, I = 2, 40
    cfg = {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
           "text_config": {"model_type": "gemma3_text", "hidden_size": H, "intermediate_size": I, "num_hidden_layers": L,
                           "vocab_size": V, "num_attention_heads": 4, "head_dim": 8},
           "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 16}, "torch_dtype": "bfloat16"}
    t = llama_like(prefix, L, I, gemma=True)
    t["vision_tower.vision_model.embeddings.patch_embedding.weight"] = rng.standard_normal((16, 3))
    d = os.path.join(tmp, "gemma3-mm-" + prefix.strip(".").replace(".", "-"))
    st = make(d, cfg, t)
    refs = [(st[f"{prefix}layers.{l}.mlp.gate_proj.weight"], st[f"{prefix}layers.{l}.mlp.down_proj.weight"]) for l in range(L)]
    if extract(d, d + ".vx", 10):
        idx = compare("gemma3-mm " + prefix, d + ".vx", refs, 10)
        check(abs(idx["norm_offset"] - 1) < 1e-9 and abs(idx["embed_scale"] - H**0.5) < 1e-4, "gemma3-mm: offset/scale")
        check(idx["model_type"] == "gemma3_text", f"gemma3-mm: model_type {idx['model_type']}")
        nb = np.frombuffer(open(d + ".vx/norms.bin", "rb").read(), dtype="<f4")
        fn = [n for n in idx["norms"] if n["name"] == "norm"][0]
        want = st[prefix + "norm.weight"] + 1.0
        check(np.allclose(nb[fn["offset"] // 4 : fn["offset"] // 4 + H], want, atol=1e-6), "gemma3-mm: norms store 1+w")


def gpt2_noprefix(tmp):
    L, I = 2, 64
    cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": H, "n_inner": None, "n_layer": L,
           "vocab_size": V, "n_head": 4, "n_positions": 64, "torch_dtype": "float32"}
    t = {"wte.weight": rng.standard_normal((V, H)), "wpe.weight": rng.standard_normal((64, H)),
         "ln_f.weight": rng.uniform(0.5, 1.5, H), "ln_f.bias": rng.standard_normal(H)}
    for l in range(L):
        p = f"h.{l}."
        t[p + "mlp.c_fc.weight"] = mat(H, 4 * H)       # Conv1D [in, out]
        t[p + "mlp.c_fc.bias"] = rng.standard_normal(4 * H)
        t[p + "mlp.c_proj.weight"] = mat(4 * H, H)
        t[p + "mlp.c_proj.bias"] = rng.standard_normal(H)
        for n in ("ln_1", "ln_2"):
            t[p + n + ".weight"] = rng.uniform(0.5, 1.5, H)
            t[p + n + ".bias"] = rng.standard_normal(H)
        t[p + "attn.c_attn.weight"] = rng.standard_normal((H, 3 * H))
        t[p + "attn.c_attn.bias"] = rng.standard_normal(3 * H)
        t[p + "attn.c_proj.weight"] = rng.standard_normal((H, H))
        t[p + "attn.c_proj.bias"] = rng.standard_normal(H)
    d = os.path.join(tmp, "gpt2-noprefix")
    st = make(d, cfg, t, dtype="F32")
    refs = [(st[f"h.{l}.mlp.c_fc.weight"].T, st[f"h.{l}.mlp.c_proj.weight"].T) for l in range(L)]
    if extract(d, d + ".vx", 16):
        compare("gpt2-noprefix", d + ".vx", refs, 16)


def mistral_sharded(tmp):
    L, I = 3, 56
    cfg = {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": H, "intermediate_size": I,
           "num_hidden_layers": L, "vocab_size": V, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
           "num_attention_heads": 4, "sliding_window": 64}
    t = llama_like("model.", L, I)
    t["lm_head.weight"] = rng.standard_normal((V, H))
    d = os.path.join(tmp, "mistral-sharded")
    st = make(d, cfg, t, shards=3)
    refs = [(st[f"model.layers.{l}.mlp.gate_proj.weight"], st[f"model.layers.{l}.mlp.down_proj.weight"]) for l in range(L)]
    if extract(d, d + ".vx", 20):
        compare("mistral-sharded", d + ".vx", refs, 20)
        # down_meta uses lm_head (untied): recompute one record in float64.
        idx = json.load(open(d + ".vx/index.json"))
        F, K = idx["num_feats"], idx["down_top_k"]
        gate = np.frombuffer(open(d + ".vx/gate_vectors.bin", "rb").read(), dtype=np.float16).reshape(L, F, H)
        dm = np.frombuffer(open(d + ".vx/down_meta.bin", "rb").read()[32:], dtype=[("id", "<u4"), ("v", "<f4")]).reshape(L, 2, F, 2 * K)
        p = st["lm_head.weight"] @ (st["model.norm.weight"] * gate[2, 5].astype(np.float64))
        check(list(dm[2, 0, 5]["id"][:K]) == list(np.argsort(-p, kind="stable")[:K]), "mistral: down_meta uses lm_head")


def main():
    tmp = tempfile.mkdtemp(prefix="vx-arch-")
    try:
        qwen3_moe(tmp, fused=False, shared=True)
        qwen3_moe(tmp, fused=True, shared=False)
        phi3(tmp)
        gemma3_mm(tmp, "language_model.model.")
        gemma3_mm(tmp, "model.language_model.")
        gpt2_noprefix(tmp)
        mistral_sharded(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
