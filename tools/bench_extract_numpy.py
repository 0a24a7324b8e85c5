#!/usr/bin/python3
"""bench_extract_numpy.py — the numpy baseline of `make bench-extract`.

Does the extractor's work the way a numpy user would, on the same checkpoint:
  for each layer: np.linalg.svd(float32 gate [I][H]) and np.linalg.svd(float32 down [H][I])
  (LAPACK sgesdd, all singular values and vectors of the thin SVD; top F kept), then the
  vocabulary projection (norm * dirs) @ lm_head(f32).T in vocabulary tiles of 8192 with the
  top-K of each direction by argpartition. Product and top-k are timed apart: argpartition
  is slow, so "svd_plus_product_s" is the conservative baseline (numpy at its best). BF16 shards are read with np.memmap and widened to f32
  by a 16-bit shift. Embedding conversion and hashing are not part of the baseline.

Usage: bench_extract_numpy.py CKPT_DIR [--features 128] [--top-k 16] [--layers N]
Prints one "NUMPY ..." line per phase and a final "NUMPY total_s=..." line. Which OpenBLAS
kernels numpy gets depends on OPENBLAS_CORETYPE in the environment (read once at load).

Also imported by check_svd_sample.py for its checkpoint reader.
"""
import json
import os
import struct
import sys
import time

import numpy as np


class Checkpoint:
    """Tensors of a sharded (or single-file) safetensors checkpoint, memory-mapped."""

    def __init__(self, d):
        self.dir = d
        self.config = json.load(open(os.path.join(d, "config.json")))
        ix = os.path.join(d, "model.safetensors.index.json")
        files = sorted(set(json.load(open(ix))["weight_map"].values())) if os.path.exists(ix) else ["model.safetensors"]
        self.where = {}
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                n = struct.unpack("<Q", fh.read(8))[0]
                hdr = json.loads(fh.read(n))
            hdr.pop("__metadata__", None)
            for name, e in hdr.items():
                self.where[name] = (p, 8 + n + e["data_offsets"][0], e["dtype"], tuple(e["shape"]))

    def raw(self, name):
        p, off, dt, shape = self.where[name]
        np_dt = {"BF16": np.uint16, "F16": np.float16, "F32": np.float32}[dt]
        return dt, np.memmap(p, dtype=np_dt, mode="r", offset=off, shape=shape)

    def f32(self, name, rows=None):
        """Tensor (or rows slice) as float32."""
        dt, m = self.raw(name)
        if rows is not None:
            m = m[rows]
        if dt == "BF16":
            return (np.asarray(m).astype(np.uint32) << 16).view(np.float32)
        return np.asarray(m, dtype=np.float32)

    def f64(self, name):
        return self.f32(name).astype(np.float64)


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    d = args[0]
    F, K, nl = 128, 16, None
    for i, a in enumerate(args):
        if a == "--features":
            F = int(args[i + 1])
        if a == "--top-k":
            K = int(args[i + 1])
        if a == "--layers":
            nl = int(args[i + 1])
    ck = Checkpoint(d)
    c = ck.config
    L, H, I, V = c["num_hidden_layers"], c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    if nl:
        L = min(L, nl)
    print(f"NUMPY model L={L} H={H} I={I} V={V} F={F} K={K} numpy={np.__version__} "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}", flush=True)

    t0 = time.perf_counter()
    t_read = 0.0
    dirs = np.empty((L, 2, F, H), dtype=np.float32)
    for l in range(L):
        tr = time.perf_counter()
        g = ck.f32(f"model.layers.{l}.mlp.gate_proj.weight")   # [I][H]
        dn = ck.f32(f"model.layers.{l}.mlp.down_proj.weight")  # [H][I]
        t_read += time.perf_counter() - tr
        _, s, vt = np.linalg.svd(g, full_matrices=False)
        dirs[l, 0] = vt[:F]
        u, s, _ = np.linalg.svd(dn, full_matrices=False)
        dirs[l, 1] = u[:, :F].T
    t_svd = time.perf_counter() - t0
    gb = L * 2 * I * H * 2 / 1e9
    print(f"NUMPY svd wall_s={t_svd:.2f} (of which bf16 read+widen {t_read:.2f} s) read_GB={gb:.3f} "
          f"per_layer_s={t_svd / L:.2f}", flush=True)

    t1 = time.perf_counter()
    w = ck.f32("model.norm.weight")
    D = np.ascontiguousarray(dirs.reshape(-1, H) * w[None, :])  # [2LF][H]
    ncol = D.shape[0]
    tile = 8192
    hi_v = np.full((ncol, K), -np.inf, np.float32); hi_i = np.zeros((ncol, K), np.int64)
    lo_v = np.full((ncol, K), np.inf, np.float32); lo_i = np.zeros((ncol, K), np.int64)
    lm = "lm_head.weight" if "lm_head.weight" in ck.where else "model.embed_tokens.weight"
    t_gemm = t_topk = 0.0
    for v0 in range(0, V, tile):
        tg = time.perf_counter()
        U = ck.f32(lm, slice(v0, min(V, v0 + tile)))  # [tile][H]
        St = D @ U.T                                   # [ncol][tile]: rows contiguous for the top-k
        tk = time.perf_counter()
        t_gemm += tk - tg
        ids = np.broadcast_to(np.arange(v0, v0 + St.shape[1]), St.shape)
        for sgn, vals, idx in ((1, hi_v, hi_i), (-1, lo_v, lo_i)):
            allv = np.concatenate([sgn * vals, sgn * St], axis=1)  # larger is better
            alli = np.concatenate([idx, ids], axis=1)
            p = np.argpartition(-allv, K - 1, axis=1)[:, :K]
            vals[:] = sgn * np.take_along_axis(allv, p, 1)
            idx[:] = np.take_along_axis(alli, p, 1)
        t_topk += time.perf_counter() - tk
    t_proj = time.perf_counter() - t1
    fl = 2 * V * H * ncol / 1e9
    print(f"NUMPY project wall_s={t_proj:.2f} (product incl. bf16 widen {t_gemm:.2f} s, {fl / t_gemm:.1f} GFLOP/s; "
          f"top-k by argpartition {t_topk:.2f} s) GFLOP={fl:.1f}", flush=True)
    total = time.perf_counter() - t0
    print(f"NUMPY total_s={total:.2f} svd_s={t_svd:.2f} product_s={t_gemm:.2f} topk_s={t_topk:.2f} "
          f"svd_plus_product_s={t_svd + t_gemm:.2f}", flush=True)


if __name__ == "__main__":
    main()
