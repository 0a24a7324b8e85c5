#!/usr/bin/python3
"""check_svd_sample.py — SVD accuracy of a vindex at scale, on a sample of layers.

For each sampled layer, recomputes the thin SVD of the gate matrix [I][H] and the down
matrix [H][I] in float64 with numpy (LAPACK dgesdd) from the checkpoint's own bytes, and
compares with what the vindex stores (spec/vindex-format.md §3, "Accuracy"):
  * singular values: max over f < F of |sigma_vx - sigma_ref| / sigma_ref   (target <= 1e-3)
  * subspace: mean over the F principal angles between span(stored directions) and the
    exact top-F singular subspace of cos^2                                   (target >= 0.999)
The stored f16 directions are orthonormalised (QR) before the angles are taken.

Usage: check_svd_sample.py VINDEX CKPT [--layers 0,13,27]   (default: first, middle, last)
Prints one "ACCURACY ..." line per matrix and "ACCURACY result=pass|fail ..." last; the
exit status is 0 on pass, 1 on fail.
"""
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_extract_numpy import Checkpoint  # noqa: E402

SIGMA_TOL = 1e-3
COS2_TOL = 0.999


def compare(stored, sigma_vx, ref_basis, sigma_ref):
    """stored [F][H] f16, ref_basis [H][F] float64 orthonormal; returns (sig_err, mean_cos2)."""
    q, _ = np.linalg.qr(stored.astype(np.float64).T)      # [H][F]
    cos = np.linalg.svd(q.T @ ref_basis, compute_uv=False)  # cosines of the principal angles
    cos2 = float(np.mean(np.minimum(cos, 1.0) ** 2))
    rel = np.abs(sigma_vx.astype(np.float64) - sigma_ref) / np.maximum(sigma_ref, np.finfo(float).tiny)
    return float(rel.max()), cos2


def main():
    a = sys.argv[1:]
    if len(a) < 2:
        sys.exit(__doc__)
    vdir, cdir = a[0], a[1]
    ix = json.load(open(os.path.join(vdir, "index.json")))
    L, F, H = ix["num_layers"], ix["num_feats"], ix["hidden_size"]
    layers = sorted({0, L // 2, L - 1})
    if "--layers" in a:
        layers = [int(x) for x in a[a.index("--layers") + 1].split(",")]
    gate = np.fromfile(os.path.join(vdir, "gate_vectors.bin"), dtype=np.float16).reshape(L, F, H)
    down = np.fromfile(os.path.join(vdir, "down_features.bin"), dtype=np.float16).reshape(L, F, H)
    ck = Checkpoint(cdir)
    ok = True
    worst_sig, worst_cos2 = 0.0, 1.0
    for l in layers:
        lm = ix["layers"][l]
        for kind, name, stored, sig in (("gate", "gate_proj", gate[l], lm["gate_sigma"]),
                                        ("down", "down_proj", down[l], lm["down_sigma"])):
            t = time.perf_counter()
            W = ck.f64(f"model.layers.{l}.mlp.{name}.weight")
            if kind == "gate":            # [I][H]: right singular vectors live in hidden space
                _, s, vt = np.linalg.svd(W, full_matrices=False)
                basis = vt[:F].T
            else:                         # [H][I]: left singular vectors live in hidden space
                u, s, _ = np.linalg.svd(W, full_matrices=False)
                basis = u[:, :F]
            del W
            serr, cos2 = compare(stored, np.asarray(sig, dtype=np.float32), basis, s[:F])
            good = serr <= SIGMA_TOL and cos2 >= COS2_TOL
            ok &= good
            worst_sig, worst_cos2 = max(worst_sig, serr), min(worst_cos2, cos2)
            gap = (s[F - 1] - s[F]) / s[F - 1] if len(s) > F else float("nan")
            print(f"ACCURACY layer={l} {kind} sigma_max_rel_err={serr:.2e} mean_cos2={cos2:.6f} "
                  f"sigma1={s[0]:.4g} sigmaF={s[F - 1]:.4g} gap_F={gap:.2e} "
                  f"{'ok' if good else 'FAIL'} ({time.perf_counter() - t:.1f} s float64 SVD)", flush=True)
    print(f"ACCURACY result={'pass' if ok else 'fail'} layers={','.join(map(str, layers))} "
          f"worst_sigma_rel_err={worst_sig:.2e} (<= {SIGMA_TOL:g}) worst_mean_cos2={worst_cos2:.6f} (>= {COS2_TOL})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
