#!/usr/bin/python3
"""bench_stats_numpy.py VX [--json OUT] — the statistics `vindex stats VX` computes with
its defaults (spec/stats.md §3-§4), done the way a numpy notebook does them: the whole
embedding matrix loaded as float32, np.cov (float64, as np.cov promotes) and
np.linalg.eigvalsh for the spectrum, float32 matrix products for the pairwise cosines of a
5,000-row sample and for the nearest neighbours of a 1,000-row sample against all rows,
Cayley–Menger determinants for 1,000 pentachora and as many Gaussian simplices, the digit
matrix, token classes from vocab.bin, and per layer the top-F numbers from index.json and
the gate coherence from gate_vectors.bin. The baseline of tools/bench.sh (time, peak RSS);
with --json it writes its deterministic numbers (norms, moments, spectrum) so bench.sh can
check that both sides computed the same thing.
"""
import json
import struct
import sys

import numpy as np


def main():
    d = sys.argv[1]
    out = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--json" else None
    idx = json.load(open(f"{d}/index.json"))
    V, H, L, F = idx["vocab_size"], idx["hidden_size"], idx["num_layers"], idx["num_feats"]
    scale = idx.get("embed_scale", 1.0)
    E = np.fromfile(f"{d}/embeddings.bin", dtype="<f2").reshape(V, H).astype(np.float32)
    if scale != 1.0:
        E *= np.float32(scale)
    rng = np.random.default_rng(42)
    r = {}
    # norms, moments
    norms = np.linalg.norm(E, axis=1).astype(np.float64)
    r["norms"] = {"mean": norms.mean(), "std": norms.std(), "min": norms.min(), "max": norms.max(),
                  **{f"p{p}": np.percentile(norms, p) for p in (1, 5, 25, 50, 75, 95, 99)},
                  "zero_rows": int((norms < 1e-6).sum())}
    largest = np.argsort(-norms, kind="stable")[:10]
    mu = E.mean(0, dtype=np.float64)
    sd = E.std(0, dtype=np.float64)
    r["dims"] = {"mean_of_means": mu.mean(), "mean_of_stds": sd.mean()}
    # spectrum
    C = np.cov(E, rowvar=False, bias=True)
    lam = np.clip(np.linalg.eigvalsh(C)[::-1], 0, None)
    del C
    tot = lam.sum()
    cum = np.cumsum(lam) / tot
    r["spectrum"] = {"total_variance": tot, "pc1": lam[0] / tot, "pc1_3": lam[:3].sum() / tot,
                     "participation_ratio": tot ** 2 / (lam ** 2).sum(),
                     **{f"dims_{int(f * 100)}": int(np.argmax(cum >= f)) + 1 for f in (0.8, 0.9, 0.95, 0.99)}}
    # pairwise cosines
    ids = rng.permutation(V)
    nrm = np.maximum(norms, 1e-30).astype(np.float32)[:, None]
    P = E[ids[:5000]] / nrm[ids[:5000]]
    G = P @ P.T
    vals = G[np.triu_indices(len(P), 1)]
    pw = {"mean": vals.mean(), "std": vals.std(), **{f"p{p}": np.percentile(vals, p) for p in (1, 5, 25, 50, 75, 95, 99)}}
    del G, vals
    # near duplicates
    S = E[ids[:1000]] / nrm[ids[:1000]]
    best = np.full(len(S), -np.inf, dtype=np.float32)
    for a in range(0, V, 16384):
        c = S @ (E[a:a + 16384] / nrm[a:a + 16384]).T
        sel = (ids[:1000] >= a) & (ids[:1000] < a + 16384)
        c[np.nonzero(sel)[0], ids[:1000][sel] - a] = -np.inf
        best = np.maximum(best, c.max(1))
    nn = {"frac_099": float((best >= 0.99).mean()), "frac_0999": float((best >= 0.999).mean())}
    # pentachora vs Gaussian points
    def cm_vols(X):
        D2 = ((X[:, :, None, :] - X[:, None, :, :]) ** 2).sum(-1)
        CM = np.ones((len(X), 6, 6))
        CM[:, 0, 0] = 0
        CM[:, 1:, 1:] = D2
        v2 = -np.linalg.det(CM) / 9216.0
        v = np.sqrt(v2[v2 > 0])
        return v.mean(), v.std() / v.mean()
    subs = np.array([rng.choice(V, 5, replace=False) for _ in range(1000)])
    pm, pcv = cm_vols(E[subs].astype(np.float64))
    gm, gcv = cm_vols(rng.standard_normal((1000, 5, H)) * sd)
    # digits and token classes from vocab.bin
    b = open(f"{d}/vocab.bin", "rb").read()
    n, style = struct.unpack_from("<II", b, 12)
    so = struct.unpack_from("<Q", b, 56)[0]
    ent = np.frombuffer(b, dtype="<u4", count=4 * n, offset=80).reshape(n, 4)
    texts = [b[so + e[2]:so + e[2] + e[3]] for e in ent]
    classes = {}
    dig = {}
    for i, t in enumerate(texts):
        k = ("empty" if ent[i, 1] == 0 else "whitespace" if t.isspace() else "digits" if t.strip().isdigit()
             else "ascii" if t.isascii() else "other")
        classes[k] = classes.get(k, 0) + 1
        if len(t) == 1 and t.isdigit() and t[0] - 48 not in dig:
            dig[t[0] - 48] = i
    Dm = E[[dig[k] for k in sorted(dig)]].astype(np.float64)
    Dm /= np.linalg.norm(Dm, axis=1, keepdims=True)
    dcos = Dm @ Dm.T
    # layers: top-F numbers and gate coherence
    gate = np.fromfile(f"{d}/gate_vectors.bin", dtype="<f2").reshape(L, F, H).astype(np.float64)
    coh = []
    for l in range(L):
        for kind in ("gate_sigma", "down_sigma"):
            s = np.array(idx["layers"][l][kind])
            _ = ((s ** 2).sum() / s[0] ** 2, s.sum() ** 2 / (s ** 2).sum(), s[0] / s[-1])
        if l + 1 < L:
            A = gate[l] / np.linalg.norm(gate[l], axis=1, keepdims=True)
            B = gate[l + 1] / np.linalg.norm(gate[l + 1], axis=1, keepdims=True)
            coh.append(np.abs(A @ B.T).max(1).mean())
    print(f"pc1 {r['spectrum']['pc1']:.6g} PR {r['spectrum']['participation_ratio']:.6g} "
          f"pairwise mean {pw['mean']:.4g} nn1>=0.99 {nn['frac_099']:.4g} penta cv {pcv:.4g} ratio {pm / gm:.4g} "
          f"coherence {np.mean(coh) if coh else float('nan'):.4g} largest-norm token {int(largest[0])} digits {len(dig)} "
          f"classes {len(classes)} digit cos mean {dcos.mean():.4g}")
    if out:
        json.dump(r, open(out, "w"))


if __name__ == "__main__":
    main()
