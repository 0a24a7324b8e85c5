#!/usr/bin/python3
"""The checkpoint `make bench-extract` measures as "80b-moe" (tools/mkckpt --shape 80b-moe:
Qwen3-Next-80B-A3B's per-layer shape, H = 2048, routed experts of width 512 and a shared
expert, FP8 E4M3 weights with 128 x 128 block scales), in a small version: 2 layers, 2
routed experts, a 4096-row vocabulary. Checked here:

- what mkckpt writes is what the Qwen3-Next family row (format/arch.c) reads: expert and
  shared-expert weights F8_E4M3 with F32 `_scale_inv` [rows/128, cols/128]; every block's
  largest value is the E4M3 maximum (the scale is amax/448); the linear-attention and
  multi-token-prediction tensors are present and ignored;
- `vindex extract` on it against float64 numpy computed from the stored bytes alone
  (tests/ckptgen.py's dequantiser, independent of the extractor): per layer the stacked
  gate (expert rows, then the shared expert's) and down matrices, sigma within 1e-3
  relative and top-F subspace >= 0.999, with F = 128 as the benchmark extracts.
Prints "N passed, N failed".
"""
import json
import os
import shutil
import struct
import subprocess
import tempfile

import numpy as np

import ckptgen as G
from vxtest import BDIR, ROOT, VINDEX, check, finish

L, E, H, IM, F = 2, 2, 2048, 512, 128


def read_st(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        data = f.read()
    dt = {"BF16": np.uint16, "F32": np.float32, "F8_E4M3": np.uint8}
    out = {}
    for name, e in hdr.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        out[name] = (e["dtype"], np.frombuffer(data[a:b], dtype=dt[e["dtype"]]).reshape(e["shape"]))
    return out


def subspace(a, b):
    qa, _ = np.linalg.qr(a.astype(np.float64).T)
    qb, _ = np.linalg.qr(b.astype(np.float64).T)
    return float(np.mean(np.linalg.svd(qa.T @ qb, compute_uv=False) ** 2))


def main():
    mk = os.path.join(BDIR, "tools", "mkckpt")
    tmp = tempfile.mkdtemp(prefix="vx-moe80b-")
    try:
        d = os.path.join(tmp, "ckpt")
        r = subprocess.run([mk, "--shape", "80b-moe", d, "--layers", str(L), "--experts", str(E), "--vocab", "4096",
                            "--tokenizer", os.path.join(ROOT, "tests", "fixtures", "tiny-qwen3", "tokenizer.json")],
                           capture_output=True, text=True)
        if not check(r.returncode == 0, f"mkckpt: {r.stderr}"):
            return
        cfg = json.load(open(os.path.join(d, "config.json")))
        check(cfg["architectures"] == ["Qwen3NextForCausalLM"] and cfg["num_experts"] == E and
              cfg["quantization_config"]["weight_block_size"] == [128, 128], f"config: {cfg}")
        wm = json.load(open(os.path.join(d, "model.safetensors.index.json")))["weight_map"]
        st = {}
        for fn in sorted(set(wm.values())):
            st.update(read_st(os.path.join(d, fn)))
        check(set(st) == set(wm), "index weight_map names the tensors the shards hold")
        p = "model.layers.0.mlp."
        for n, shape in ((p + "experts.1.gate_proj.weight", [IM, H]), (p + "experts.0.down_proj.weight", [H, IM]),
                         (p + "shared_expert.up_proj.weight", [IM, H])):
            check(st[n][0] == "F8_E4M3" and list(st[n][1].shape) == shape, f"{n}: {st[n][0]} {st[n][1].shape}")
            s = st[n + "_scale_inv"]
            check(s[0] == "F32" and list(s[1].shape) == [shape[0] // 128, shape[1] // 128], f"{n}_scale_inv: {s[0]} {s[1].shape}")
            q = np.abs(G.E4M3[st[n][1]]).reshape(shape[0] // 128, 128, shape[1] // 128, 128)
            check(np.all(q.max(axis=(1, 3)) == 448.0), f"{n}: every block reaches the E4M3 maximum (scale = amax/448)")
        check(st[p + "gate.weight"][0] == "BF16" and "model.layers.0.linear_attn.in_proj_qkvz.weight" in st and
              "model.layers.3.self_attn.q_proj.weight" not in st and "mtp.fc.weight" in st, "router BF16, attention kinds, MTP")

        out = os.path.join(tmp, "vx")
        r = subprocess.run([VINDEX, "extract", d, "-o", out, "-f", str(F)], capture_output=True, text=True)
        if not check(r.returncode == 0, f"extract: {r.stderr}"):
            return
        idx = json.load(open(os.path.join(out, "index.json")))
        gate = np.fromfile(os.path.join(out, "gate_vectors.bin"), dtype=np.float16).reshape(L, F, H)
        down = np.fromfile(os.path.join(out, "down_features.bin"), dtype=np.float16).reshape(L, F, H)

        def q(n):
            return G.dequant(st, n, (128, 128))
        for l in range(L):
            p = f"model.layers.{l}.mlp."
            check(idx["layers"][l].get("num_experts") == E, f"layer {l}: num_experts {idx['layers'][l].get('num_experts')}")
            gs = np.vstack([q(f"{p}experts.{e}.gate_proj.weight") for e in range(E)] + [q(p + "shared_expert.gate_proj.weight")])
            ds = np.hstack([q(f"{p}experts.{e}.down_proj.weight") for e in range(E)] + [q(p + "shared_expert.down_proj.weight")])
            for kind, M, got, key in (("gate", gs, gate[l], "gate_sigma"), ("down", ds.T, down[l], "down_sigma")):
                _, s, vt = np.linalg.svd(M, full_matrices=False)
                sig = np.array(idx["layers"][l][key])
                rel = float(np.max(np.abs(sig - s[:F]) / s[:F]))
                sub = subspace(got, vt[:F])
                print(f"layer {l} {kind}: {M.shape[0]} x {H}, sigma rel err {rel:.2e}, subspace {sub:.6f}, "
                      f"gap_F {(s[F - 1] - s[F]) / s[F - 1]:.4f}")
                check(rel < 1e-3, f"layer {l} {kind}: sigma rel err {rel:.3g}")
                check(sub >= 0.999, f"layer {l} {kind}: subspace {sub:.6f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
