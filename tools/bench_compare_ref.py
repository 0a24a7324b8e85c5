#!/usr/bin/python3
"""Reference implementation of `vindex compare` in numpy/scipy, float64 throughout.

Implements spec/compare.md independently of the C code: numpy PCA (np.cov + eigh),
scipy.linalg.orthogonal_procrustes, numpy percentiles, scipy.linalg.orth for the layer
subspaces. Used by tools/bench_compare.sh (timing and agreement) and tests/t_compare.py
(differential test).

    bench_compare_ref.py A B [--anchors N|FILE] [--test N|FILE] [--seed S]
                             [--pca-sample N] [--layer-map A:B,...]

prints the same JSON object as `vindex compare --json` (keys of spec/compare.md §8).
"""
import json
import math
import os
import sys

import numpy as np
import scipy.linalg

M64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


class Stream:
    """splitmix64 stream k of a seed (spec §3)."""

    def __init__(self, seed, k):
        self.x0 = self.x = mix64((seed + k) & M64)

    def next(self):
        self.x = (self.x + GAMMA) & M64
        return mix64(self.x)

    def below(self, n):
        t = (1 << 64) % n
        while True:
            r = self.next()
            if r >= t:
                return r % n

    def shuffle_prefix(self, p, k):
        n = len(p)
        for i in range(min(k, n)):
            j = i + self.below(n - i)
            p[i], p[j] = p[j], p[i]

    def outputs(self, count):
        """The next `count` outputs, vectorised (output k = mix64(x + k*GAMMA))."""
        k = np.arange(1, count + 1, dtype=np.uint64)
        z = np.uint64(self.x) + k * np.uint64(GAMMA)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


class Vindex:
    def __init__(self, d):
        self.path = d
        idx = json.load(open(os.path.join(d, "index.json")))
        self.L, self.F, self.H, self.V = idx["num_layers"], idx["num_feats"], idx["hidden_size"], idx["vocab_size"]
        self.scale = float(idx.get("embed_scale", 1.0)) or 1.0
        self.emb = np.memmap(os.path.join(d, "embeddings.bin"), dtype=np.float16, mode="r", shape=(self.V, self.H))
        self.gate = np.fromfile(os.path.join(d, "gate_vectors.bin"), dtype=np.float16).reshape(self.L, self.F, self.H)
        self.down = np.fromfile(os.path.join(d, "down_features.bin"), dtype=np.float16).reshape(self.L, self.F, self.H)
        b = open(os.path.join(d, "vocab.bin"), "rb").read()
        n = int.from_bytes(b[12:16], "little")
        so = int.from_bytes(b[56:64], "little")
        ent = np.frombuffer(b, dtype="<u4", count=4 * n, offset=80).reshape(n, 4)
        self.raw = [b[so + int(e[0]):so + int(e[0]) + int(e[1])] for e in ent]
        self.text = [b[so + int(e[2]):so + int(e[2]) + int(e[3])] for e in ent]
        self.raw_id = {}
        for i, r in enumerate(self.raw):
            if r and r not in self.raw_id:
                self.raw_id[r] = i

    def rows(self, ids):
        return self.emb[np.asarray(ids, dtype=np.int64)].astype(np.float64) * self.scale

    def read_tokens(self, path):
        out = []
        for line in open(path, "rb").read().split(b"\n"):
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                continue
            if line[:1] == b"#" and len(line) > 1 and line[1:].isdigit():
                out.append(int(line[1:]))
            else:
                out.append(self.raw_id[line])
        return out


def stats(cs, ids):
    p = np.percentile(cs, [1, 5, 10, 25, 50, 75, 90, 95, 99])
    i, j = int(np.argmin(cs)), int(np.argmax(cs))
    d = {"mean": float(cs.mean()), "std": float(cs.std()), "median": float(np.median(cs)), "min": float(cs[i]),
         "min_token_id": int(ids[i]), "max": float(cs[j]), "max_token_id": int(ids[j])}
    for k, v in zip(["p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99"], p):
        d[k] = float(v)
    return d


def frac_above(cs):
    return {"0.%d" % k: float(np.mean(cs > k / 10.0)) for k in range(10)}


def row_cos(a, b):
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    den = na * nb
    return np.where(den > 0, (a * b).sum(1) / np.where(den > 0, den, 1), 0.0)


def unit(X):
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(n > 0, n, 1)


def cm_volume2(P):
    """Squared volume of the 4-simplex with vertices P [5][n] from its Cayley–Menger
    determinant, vol² = (−1)^(k+1) det(CM) / (2^k (k!)²) with k = 4, and the mean of the 10
    squared edge lengths."""
    D = ((P[:, None, :] - P[None, :, :]) ** 2).sum(-1)
    CM = np.ones((6, 6))
    CM[0, 0] = 0.0
    CM[1:, 1:] = D
    iu = np.triu_indices(5, 1)
    return -np.linalg.det(CM) / 9216.0, float(D[iu].mean())


def pentachora(native, aligned, keep=None):
    """Cayley–Menger volumes of each simplex (rows [S][5][n]) in both spaces; statistics over
    the simplices valid (vol² > 1e-12 · s̄⁴) in both. keep (a dict): every simplex's volumes,
    NaN where not valid (spec/compare.md §11)."""
    vn, va = [], []
    if keep is not None:
        keep["vol_native"], keep["vol_aligned"] = np.full(len(native), np.nan), np.full(len(native), np.nan)
    for s, (Pn, Pa) in enumerate(zip(native, aligned)):
        (v2n, sn), (v2a, sa) = cm_volume2(Pn), cm_volume2(Pa)
        if v2n > 1e-12 * sn ** 4 and v2a > 1e-12 * sa ** 4:
            vn.append(math.sqrt(v2n))
            va.append(math.sqrt(v2a))
            if keep is not None:
                keep["vol_native"][s], keep["vol_aligned"][s] = vn[-1], va[-1]
    vn, va = np.array(vn), np.array(va)
    out = {"simplices": len(native), "valid": len(vn)}
    if len(vn) < 2:
        return dict(out, native_mean=None, native_cv=None, aligned_mean=None, aligned_cv=None, volume_ratio=None,
                    correlation=None)
    return dict(out, native_mean=float(vn.mean()), native_cv=float(vn.std() / vn.mean()), aligned_mean=float(va.mean()),
                aligned_cv=float(va.std() / va.mean()), volume_ratio=float(va.mean() / vn.mean()),
                correlation=float(np.corrcoef(vn, va)[0, 1]))


def relational(XS, XT):
    m = XS.shape[0]
    G1, G2 = unit(XS) @ unit(XS).T, unit(XT) @ unit(XT).T
    iu = np.triu_indices(m, 1)
    a, b = G1[iu], G2[iu]
    return float(np.corrcoef(a, b)[0, 1]), float(np.mean(np.abs(a - b)))


def compare(pa, pb, anchors=None, test=None, seed=42, pca_sample=50000, layer_map=None, knn=10, knn_sample=1000,
            map_free_on=True, keep=None):
    """anchors / test: None (default count), an int (count) or a list of A ids. keep (a
    dict): filled with the per-token values of spec/compare.md §11, under vx_cmp_arrays'
    names."""
    A, B = Vindex(pa), Vindex(pb)
    # §2 shared tokens
    if A.V == B.V and A.raw == B.raw:
        sa = sb = np.arange(A.V)
        by_id = True
    else:
        bmap = {}
        for i, t in enumerate(B.text):
            if t and t not in bmap:
                bmap[t] = i
        seen, pairs = set(), []
        for i, t in enumerate(A.text):
            if not t or t in seen:
                continue
            seen.add(t)
            if t in bmap:
                pairs.append((i, bmap[t]))
        sa = np.array([p[0] for p in pairs], dtype=np.int64)
        sb = np.array([p[1] for p in pairs], dtype=np.int64)
        by_id = False
    N = len(sa)
    if N < 10:
        raise SystemExit("too few shared tokens: %d" % N)
    src_a = A.H > B.H
    S, T = (A, B) if src_a else (B, A)
    sid, tid = (sa, sb) if src_a else (sb, sa)
    d, HS = T.H, S.H

    # §3 split
    pos = {int(a): i for i, a in enumerate(sa)}
    used = np.zeros(N, bool)
    anc = tst = None
    if isinstance(anchors, list):
        anc = [pos[a] for a in anchors]
        used[anc] = True
    if isinstance(test, list):
        tst = [pos[a] for a in test]
        used[tst] = True
    pool = [i for i in range(N) if not used[i]]
    P = len(pool)
    a_n = anchors if isinstance(anchors, int) else 0
    t_n = test if isinstance(test, int) else 0
    draw_a, draw_t = anc is None, tst is None
    if draw_a and draw_t and not a_n and not t_n:
        a_n, t_n = (10000, 5000) if P >= 15000 else (P - P // 3, P // 3)
    else:
        if draw_a and not a_n:
            a_n = min(10000, P - t_n) if P > t_n else 0
        if draw_t and not t_n:
            t_n = min(5000, P - a_n) if P > a_n else 0
    if not draw_a:
        a_n = 0
    if not draw_t:
        t_n = 0
    Stream(seed, 0).shuffle_prefix(pool, a_n + t_n)
    if draw_a:
        anc = pool[:a_n]
    if draw_t:
        tst = pool[a_n:a_n + t_n]
    anc, tst = np.array(anc, dtype=np.int64), np.array(tst, dtype=np.int64)
    na, nt = len(anc), len(tst)

    # §4 PCA (numpy: covariance with ddof=1, eigh)
    out = {"shared_tokens": N, "match": "id" if by_id else "text", "anchors": na, "test": nt, "seed": seed,
           "source": "A" if src_a else "B", "target": "B" if src_a else "A", "dim_source": HS, "dim_target": d}
    W = None
    mu0 = np.zeros(HS)
    if HS > d:
        fit = list(range(N))
        if N > pca_sample:
            Stream(seed, 1).shuffle_prefix(fit, pca_sample)
            fit = sorted(fit[:pca_sample])
        X = S.rows(sid[fit])
        mu0 = X.mean(0)
        C = np.cov(X, rowvar=False)
        del X
        ev, evec = np.linalg.eigh(C)
        W = evec[:, ::-1][:, :d].T
        big = np.argmax(np.abs(W), axis=1)  # sign: largest-magnitude entry positive
        W = W * np.where(W[np.arange(d), big] < 0, -1.0, 1.0)[:, None]
        out.update(pca_dim=d, pca_fit_tokens=len(fit), pca_variance_retained=float(ev[::-1][:d].sum() / np.trace(C)))
        del C
    else:
        out.update(pca_dim=0, pca_fit_tokens=0, pca_variance_retained=1.0)

    def project(ids):
        X = S.rows(ids)
        return (X - mu0) @ W.T if W is not None else X

    # §5 Procrustes
    both = np.concatenate([anc, tst])
    Z = project(sid[both])
    Yn = T.rows(tid[both])  # the target's native rows
    muz, muy = Z[:na].mean(0), Yn[:na].mean(0)
    Z -= muz
    Y = Yn - muy
    R, scale = scipy.linalg.orthogonal_procrustes(Z[:na], Y[:na])
    out["procrustes_scale"] = float(scale)

    def aligned(ids):
        """The published aligned rows A = (P − m_l) R + m_s of shared indices."""
        return (project(sid[ids]) - muz) @ R + muy

    # §6 held-out metrics, both definitions
    Zt, Yt, Ynt = Z[na:], Y[na:], Yn[na:]
    ids_t = sa[tst]
    M = Zt @ R
    At = M + muy
    cs, csp = row_cos(M, Yt), row_cos(At, Ynt)
    l2 = np.linalg.norm(Ynt - At, axis=1)
    out["cosine"] = stats(csp, ids_t)
    out["cosine_centred"] = stats(cs, ids_t)
    out["l2"] = {"mean": float(l2.mean()), "std": float(l2.std()), "median": float(np.median(l2))}
    out["frac_above_heldout"] = frac_above(csp)
    out["frac_above_centred"] = frac_above(cs)
    r_ = Ynt - At  # published residual: covariance r'r/n, not centred
    ev = np.linalg.eigvalsh(r_.T @ r_ / nt)[::-1]
    out["residual_eigenvalues"] = [float(v) for v in ev[:min(200, d)]]
    ev = np.linalg.eigvalsh(np.cov(M - Yt, rowvar=False))[::-1]
    out["residual_eigenvalues_centred"] = [float(v) for v in ev[:min(20, d)]]

    # baseline: Haar orthogonal from QR of a Gaussian (Box-Muller on stream 2)
    st = Stream(seed, 2)
    npair = (d * d + 1) // 2
    o = st.outputs(2 * npair)
    u1 = ((o[0::2] >> np.uint64(11)) + np.uint64(1)).astype(np.float64) * 2.0 ** -53
    u2 = (o[1::2] >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    rr = np.sqrt(-2.0 * np.log(u1))
    g = np.empty(2 * npair)
    g[0::2] = rr * np.cos(2 * math.pi * u2)
    g[1::2] = rr * np.sin(2 * math.pi * u2)
    Gm = g[:d * d].reshape(d, d)
    Q, Rq = np.linalg.qr(Gm)
    Q = Q * np.where(np.diag(Rq) < 0, -1.0, 1.0)
    Mb = Zt @ Q
    for key, cb in (("baseline", row_cos(Mb + muy, Ynt)), ("baseline_centred", row_cos(Mb, Yt))):
        out[key] = stats(cb, ids_t)
        out[key]["frac_above"] = frac_above(cb)
        out[key]["l2_mean"] = float(np.linalg.norm(Mb - Yt, axis=1).mean())

    # relational, published: the target's native rows and the aligned rows, both normalised
    m = min(1000, nt)
    out["relational_tokens"] = m
    out["relational_correlation"], out["relational_mean_abs_diff"] = relational(Ynt[:m], At[:m])
    if keep is not None:
        iu = np.triu_indices(m, 1)
        keep.update(test_id=sa[tst], test_cos=csp, test_cos_centred=cs, test_l2=l2,
                    baseline_cos=row_cos(Mb + muy, Ynt), baseline_cos_centred=row_cos(Mb, Yt), relational_n=m,
                    rel_target=(unit(Ynt[:m]) @ unit(Ynt[:m]).T)[iu], rel_aligned=(unit(At[:m]) @ unit(At[:m]).T)[iu])
    # relational, centred: own spaces, centred on anchor means (source at full width)
    mux = S.rows(sid[anc]).mean(0)
    out["relational_correlation_centred"], out["relational_mean_abs_diff_centred"] = relational(
        S.rows(sid[tst[:m]]) - mux, T.rows(tid[tst[:m]]) - muy)
    dig = []
    for ch in b"0123456789":
        for i in range(N):
            if A.text[sa[i]] == bytes([ch]):
                dig.append(i)
                break
    out["digits"] = len(dig)
    out["digit_correlation"] = out["digit_mean_abs_diff"] = None
    out["digit_correlation_centred"] = out["digit_mean_abs_diff_centred"] = None
    out["digit_cosines"] = []
    if dig:
        dig = np.array(dig)
        Ad, Yd = aligned(dig), T.rows(tid[dig])
        out["digit_cosines"] = [{"token_id": int(sa[i]), "cosine": float(c)} for i, c in zip(dig, row_cos(Yd, Ad))]
        if keep is not None:
            keep.update(digit_target=unit(Yd) @ unit(Yd).T, digit_aligned=unit(Ad) @ unit(Ad).T)
        if len(dig) >= 3:
            out["digit_correlation"], out["digit_mean_abs_diff"] = relational(Yd, Ad)
            out["digit_correlation_centred"], out["digit_mean_abs_diff_centred"] = relational(
                S.rows(sid[dig]) - mux, T.rows(tid[dig]) - muy)

    # pentachora: 1,000 simplices of 5 shared tokens, stream 4
    st3, perm, simp = Stream(seed, 4), list(range(N)), []
    for _ in range(1000):
        st3.shuffle_prefix(perm, 5)
        simp.append(perm[:5])
    simp = np.array(simp, dtype=np.int64)
    flat = simp.reshape(-1)
    out["pentachoron"] = pentachora(T.rows(tid[flat]).reshape(1000, 5, d), aligned(flat).reshape(1000, 5, d), keep)

    # every shared token, in chunks: both definitions
    call, callp = np.empty(N), np.empty(N)
    for c0 in range(0, N, 16384):
        sl = slice(c0, min(N, c0 + 16384))
        Ac = (project(sid[sl]) - muz) @ R
        Yc = T.rows(tid[sl])
        call[sl] = row_cos(Ac, Yc - muy)
        callp[sl] = row_cos(Ac + muy, Yc)
    out["frac_above"] = frac_above(callp)
    if keep is not None:
        keep.update(id_a=sa, id_b=sb, all_cos=callp, all_cos_centred=call)
    k = min(20, N)
    for suffix, v in (("", callp), ("_centred", call)):
        best = np.lexsort((sa, -v))[:k]
        worst = np.lexsort((sa, v))[:k]
        out["best" + suffix] = [{"token_id": int(sa[i]), "token_id_b": int(sb[i]), "cosine": float(v[i])} for i in best]
        out["worst" + suffix] = [{"token_id": int(sa[i]), "token_id_b": int(sb[i]), "cosine": float(v[i])} for i in worst]

    # §7 layers: mean squared cosine of principal angles
    def bases(V, kind, is_src):
        res = []
        for l in range(V.L):
            D = (V.gate if kind == 0 else V.down)[l].astype(np.float64)
            if is_src:
                if W is not None:
                    D = D @ W.T
                D = D @ R
            res.append(scipy.linalg.orth(D.T))  # columns: orthonormal basis of the span
        return res

    lay = {"layers_a": A.L, "layers_b": B.L}
    for kind, name in ((0, "gate"), (1, "down")):
        qa, qb = bases(A, kind, src_a), bases(B, kind, not src_a)
        sim = np.zeros((A.L, B.L))
        for i in range(A.L):
            for j in range(B.L):
                s = np.linalg.svd(qa[i].T @ qb[j], compute_uv=False)
                sim[i, j] = float(np.sum(s ** 2) / min(qa[i].shape[1], qb[j].shape[1]))
        lay[name] = sim.tolist()
    if layer_map:
        pairs = layer_map
    else:
        a_short = A.L <= B.L
        L1, L2 = (A.L, B.L) if a_short else (B.L, A.L)
        pairs = []
        for i in range(L1):
            j = 0 if L1 == 1 else (2 * i * (L2 - 1) + (L1 - 1)) // (2 * (L1 - 1))
            pairs.append((i, j) if a_short else (j, i))
    lay["matched"] = [{"a": a, "b": b, "gate": lay["gate"][a][b], "down": lay["down"][a][b]} for a, b in pairs]
    out["layers"] = lay
    if map_free_on:
        out["map_free"] = map_free(A, B, sa, sb, knn, knn_sample, seed)[0]
    return out


# ---------------------------------------------------------------- §10 map-free similarity
def hsic_unbiased(K, L):
    """Song et al. 2012, eq. 5: the unbiased HSIC estimator from n×n kernel matrices."""
    n = K.shape[0]
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0.0)
    np.fill_diagonal(L, 0.0)
    one = np.ones(n)
    kl1 = K @ (L @ one)
    return (np.sum(K * L) + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (one @ kl1)) / (n * (n - 3))


def mutual_knn(rows_a, rows_b, N, q, k):
    """Huh et al. 2024: for each query (shared index), its k nearest other shared tokens by
    cosine in each space (ties: lower index first); mean |NN_A ∩ NN_B| / k. rows_x(c0, c1)
    gives the float64 rows of shared indices [c0, c1). Also returns the number of queries
    whose k-th and (k+1)-th cosines lie within 1e-12 in either space (a near tie that
    another implementation's rounding may order differently) and the overlap count."""
    def nn_lists(rows):
        lists, ties = [], np.zeros(len(q), bool)
        for c0 in range(0, len(q), 1024):
            qq = q[c0:c0 + 1024]
            Uq = unit(np.concatenate([rows(int(i), int(i) + 1) for i in qq]))
            S = np.empty((len(qq), N))
            for r0 in range(0, N, 8192):
                S[:, r0:r0 + 8192] = Uq @ unit(rows(r0, min(N, r0 + 8192))).T
            S[np.arange(len(qq)), qq] = -np.inf
            for i in range(len(qq)):
                part = np.argpartition(-S[i], k)[:k + 1]
                t = np.sort(S[i][part])[::-1]
                ties[c0 + i] = t[k - 1] - t[k] <= 1e-12
                s = np.round(S[i], 12)  # exact duplicates rank by index whatever BLAS rounded
                cand = np.nonzero(s >= np.round(t[k - 1], 12))[0]
                order = cand[np.lexsort((cand, -s[cand]))]
                lists.append(set(order[:k].tolist()))
        return lists, ties
    la, ta = nn_lists(rows_a)
    lb, tb = nn_lists(rows_b)
    overlap = sum(len(x & y) for x, y in zip(la, lb))
    return overlap / (k * len(q)), int(np.sum(ta | tb)), overlap


def map_free(A, B, sa, sb, knn=10, knn_sample=1000, seed=42, dense=None):
    """spec/compare.md §10 in float64. dense (default: N <= 6000) follows each paper's own
    recipe on the data matrices — n×n kernels for the unbiased HSIC, an SVD of the data and
    QR-based CCA for SVCCA; otherwise the same quantities from p×p, q×q and p×q Grams
    accumulated in chunks. Returns (result dict, near-tie count, overlap count)."""
    N, p, q = len(sa), A.H, B.H
    if dense is None:
        dense = N <= 6000
    out = {"tokens": N}
    if dense:
        X, Y = A.rows(sa), B.rows(sb)
        Xc, Yc = X - X.mean(0), Y - Y.mean(0)
        cxy, cxx, cyy = Xc.T @ Yc, Xc.T @ Xc, Yc.T @ Yc
        out["cka_linear"] = float(np.sum(cxy ** 2) / np.sqrt(np.sum(cxx ** 2) * np.sum(cyy ** 2)))
        K, L = X @ X.T, Y @ Y.T   # uncentred: the unbiased HSIC is translation invariant
        out["cka_debiased"] = float(hsic_unbiased(K, L) / np.sqrt(hsic_unbiased(K, K) * hsic_unbiased(L, L)))
        del K, L

        def reduce(Z):
            u, sv, _ = np.linalg.svd(Z, full_matrices=False)
            share = np.cumsum(sv ** 2) / np.sum(sv ** 2)
            keep = int(np.searchsorted(share, 0.99) + 1)
            return u[:, :keep] * sv[:keep], keep
        Xr, ka = reduce(Xc)
        Yr, kb = reduce(Yc)
        Qx, _ = np.linalg.qr(Xr)
        Qy, _ = np.linalg.qr(Yr)
        rho = np.linalg.svd(Qx.T @ Qy, compute_uv=False)
        nuc = np.linalg.svd(cxy, compute_uv=False).sum()
        nx, ny = np.linalg.norm(Xc), np.linalg.norm(Yc)
    else:
        mx, my = np.zeros(p), np.zeros(q)
        for c0 in range(0, N, 8192):
            mx += A.rows(sa[c0:c0 + 8192]).sum(0)
            my += B.rows(sb[c0:c0 + 8192]).sum(0)
        mx, my = mx / N, my / N
        cxx, cyy, cxy = np.zeros((p, p)), np.zeros((q, q)), np.zeros((p, q))
        sab = saa = sbb = 0.0
        for c0 in range(0, N, 8192):
            Xc, Yc = A.rows(sa[c0:c0 + 8192]) - mx, B.rows(sb[c0:c0 + 8192]) - my
            cxx += Xc.T @ Xc
            cyy += Yc.T @ Yc
            cxy += Xc.T @ Yc
            a, b = np.sum(Xc ** 2, 1), np.sum(Yc ** 2, 1)
            sab, saa, sbb = sab + a @ b, saa + a @ a, sbb + b @ b
        del Xc, Yc
        out["cka_linear"] = float(np.sum(cxy ** 2) / np.sqrt(np.sum(cxx ** 2) * np.sum(cyy ** 2)))
        tx, ty, n = np.trace(cxx), np.trace(cyy), float(N)

        def hu(f, s, t1, t2):  # Kornblith et al.'s feature-space form of the unbiased HSIC
            return f - n / (n - 2) * s + t1 * t2 / ((n - 1) * (n - 2))
        out["cka_debiased"] = float(hu(np.sum(cxy ** 2), sab, tx, ty) /
                                    np.sqrt(hu(np.sum(cxx ** 2), saa, tx, tx) * hu(np.sum(cyy ** 2), sbb, ty, ty)))

        def eig_reduce(C):
            w, v = np.linalg.eigh(C)
            w, v = w[::-1], v[:, ::-1]
            share = np.cumsum(np.maximum(w, 0)) / np.sum(np.maximum(w, 0))
            keep = int(np.searchsorted(share, 0.99) + 1)
            return w[:keep], v[:, :keep], keep
        wa, va, ka = eig_reduce(cxx)
        wb, vb, kb = eig_reduce(cyy)
        T = (va.T @ cxy @ vb) / np.sqrt(np.outer(wa, wb))
        rho = np.linalg.svd(T, compute_uv=False)
        nuc = np.linalg.svd(cxy, compute_uv=False).sum()
        nx, ny = np.sqrt(tx), np.sqrt(ty)
    out["svcca"] = float(np.mean(np.minimum(rho, 1.0)))
    out["svcca_dims_a"], out["svcca_dims_b"] = ka, kb
    r = min(1.0, nuc / (nx * ny))
    out["procrustes_distance"] = float(np.sqrt(2 - 2 * r))
    out["procrustes_angular"] = float(np.arccos(r))
    # mutual k-NN: the seeded sample of queries (stream 3), ascending
    idx = list(range(N))
    nq = min(knn_sample, N)
    if nq < N:
        Stream(seed, 3).shuffle_prefix(idx, nq)
    qs = np.array(sorted(idx[:nq]), dtype=np.int64)
    m, ties, ov = mutual_knn(lambda c0, c1: A.rows(sa[c0:c1]), lambda c0, c1: B.rows(sb[c0:c1]), N, qs, knn)
    out["mutual_knn"] = float(m)
    out["knn_k"], out["knn_queries"] = knn, nq
    out["knn_near_ties"] = ties  # not a metric of vindex's output (ID_KEYS): for the exactness check
    return out, ties, ov


ID_KEYS = {"knn_near_ties", "min_token_id", "max_token_id", "token_id", "token_id_b", "seed", "a", "b"}


def metric_diffs(c, r, path=""):
    """[(path, |c - r|)] for every numeric metric of the reference result `r` (ids and
    strings are not metrics; a missing or mistyped value counts as an infinite difference)."""
    out = []
    if isinstance(r, dict):
        for k, v in r.items():
            if k in ID_KEYS or isinstance(v, str):
                continue
            out += metric_diffs(c.get(k) if isinstance(c, dict) else None, v, path + "." + k)
    elif isinstance(r, list):
        if not isinstance(c, list) or len(c) != len(r):
            return [(path, float("inf"))]
        for i, v in enumerate(r):
            out += metric_diffs(c[i], v, "%s[%d]" % (path, i))
    elif r is None:
        out.append((path, 0.0 if c is None else float("inf")))
    elif isinstance(r, (int, float)):
        out.append((path, abs(float(c) - float(r)) if isinstance(c, (int, float)) else float("inf")))
    return out


def main(argv):
    args, opts, i = [], {}, 0
    while i < len(argv):
        if argv[i].startswith("--"):
            opts[argv[i][2:]] = argv[i + 1]
            i += 2
        else:
            args.append(argv[i])
            i += 1
    A = Vindex(args[0])

    def tok_arg(v):
        if v is None:
            return None
        return int(v) if v.isdigit() else A.read_tokens(v)

    lm = None
    if "layer-map" in opts:
        lm = [tuple(int(x) for x in p.split(":")) for p in opts["layer-map"].split(",")]
    r = compare(args[0], args[1], anchors=tok_arg(opts.get("anchors")), test=tok_arg(opts.get("test")),
                seed=int(opts.get("seed", 42)), pca_sample=int(opts.get("pca-sample", 50000)), layer_map=lm)
    print(json.dumps(r))


if __name__ == "__main__":
    main(sys.argv[1:])
