#!/usr/bin/python3
"""t_stats.py — `vindex stats --json` and `nearest --metric causal` against an independent
float64 numpy/scipy computation over the same vindex files (spec/stats.md).

Vindexes: extracted from the four fixtures, plus synthetic ones from tools/mkvindex
(byte-level and Metaspace tokenizers) with planted zero, duplicate and near-duplicate rows
and an embed_scale. The reference has its own splitmix64 (spec/compare.md §3), draws the
same samples, and computes every number its own way (Cayley–Menger determinants, eigvalsh,
a dense nearest-neighbour search, its own vocab.bin reader and token classifier). Numbers
agree within 1e-3 relative (cosine-valued ones within 1e-4 absolute), counts exactly.
Also: usage errors (exit 2), a vindex that cannot be opened (exit 1), what a version-1
vindex lacks (exit 0), determinism of the seed.
Run with /usr/bin/python3. Prints "N passed, N failed" last.
"""
import json
import os
import shutil
import struct
import subprocess
import tempfile

import numpy as np
import scipy.linalg
from vxtest import BDIR, FIX, VINDEX, bytes_to_unicode, check, finish

MKVINDEX = os.path.join(BDIR, "tools", "mkvindex")
M64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
PCTS = [1, 5, 25, 50, 75, 95, 99]
PK = ["p1", "p5", "p25", "p50", "p75", "p95", "p99"]


# ------------------------------------------------------------------ splitmix64 (compare.md §3)

def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


class Stream:
    def __init__(self, seed, k):
        self.x = mix64((seed + k) & M64)

    def next(self):
        self.x = (self.x + GAMMA) & M64
        return mix64(self.x)

    def below(self, n):
        t = ((1 << 64) - n) % n
        while True:
            r = self.next()
            if r >= t:
                return r % n

    def gauss(self, n):
        """n standard normals from Box–Muller pairs, vectorised: output i of the stream is
        mix64(x0 + (i+1)·GAMMA)."""
        npairs = (n + 1) // 2
        i = np.arange(1, 2 * npairs + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            z = np.uint64(self.x) + i * np.uint64(GAMMA)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
        self.x = (self.x + 2 * npairs * GAMMA) & M64
        r1, r2 = z[0::2], z[1::2]
        u1 = ((r1 >> np.uint64(11)).astype(np.float64) + 1) * 2.0 ** -53
        u2 = (r2 >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
        rho = np.sqrt(-2 * np.log(u1))
        out = np.empty(2 * npairs)
        out[0::2] = rho * np.cos(2 * np.pi * u2)
        out[1::2] = rho * np.sin(2 * np.pi * u2)
        return out[:n]


def fy_prefix(n, k, s):
    p = list(range(n))
    for i in range(min(k, n)):
        j = i + s.below(n - i)
        p[i], p[j] = p[j], p[i]
    return p[:k]


# ------------------------------------------------------------------ files

def read_vocab(d):
    """(style, raw[], text[]) from vocab.bin (spec/vocab-bin.md)."""
    b = open(f"{d}/vocab.bin", "rb").read()
    n, style = struct.unpack_from("<II", b, 12)
    strings_off = struct.unpack_from("<Q", b, 56)[0]
    raw, text = [], []
    for i in range(n):
        ro, rl, to, tl = struct.unpack_from("<IIII", b, 80 + 16 * i)
        raw.append(b[strings_off + ro:strings_off + ro + rl])
        text.append(b[strings_off + to:strings_off + to + tl])
    return style, raw, text


def load(d):
    idx = json.load(open(f"{d}/index.json"))
    V, H = idx["vocab_size"], idx["hidden_size"]
    emb = np.frombuffer(open(f"{d}/embeddings.bin", "rb").read(), dtype="<f2").astype(np.float64).reshape(V, H)
    return idx, emb


# ------------------------------------------------------------------ the reference

def dist(v):
    v = np.asarray(v, dtype=np.float64)
    out = {"mean": v.mean(), "std": v.std(), "min": v.min(), "max": v.max()}
    for p, k in zip(PCTS, PK):
        out[k] = np.percentile(v, p)
    return out


BYTEMAP = set(bytes_to_unicode().values())
WS = set(b" \t\n\v\f\r")


def cjk(cp):
    return (0x3400 <= cp <= 0x4DBF or 0x4E00 <= cp <= 0x9FFF or 0xF900 <= cp <= 0xFAFF or 0x20000 <= cp <= 0x2FFFF
            or 0x3040 <= cp <= 0x30FF or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F or 0xAC00 <= cp <= 0xD7AF)


def token_class(raw, text, style):
    import re
    if not raw:
        return "empty"
    if style == 2 and re.fullmatch(rb"<0x[0-9A-F]{2}>", raw):
        return "byte"
    if style == 1:
        try:
            r = raw.decode("utf-8")
            if len(r) == 1 and r in BYTEMAP:
                return "byte"
        except UnicodeDecodeError:
            pass
    if len(raw) >= 3 and raw[:1] == b"<" and raw[-1:] == b">":
        return "special"
    if len(raw) >= 3 and re.fullmatch(rb"\[[A-Z0-9_|]*\]", raw):
        return "special"
    if text and all(c in WS for c in text):
        return "whitespace"
    if re.fullmatch(rb" ?[0-9]+", text):
        return "digits"
    if re.fullmatch(rb" ?[!-/:-@\[-`{-~]+", text):
        return "punctuation"
    if re.fullmatch(rb" ?[A-Za-z]+", text):
        return "ascii_word"
    if re.search(rb"\\x[0-9A-F]{2}", text):
        return "partial_utf8"
    if all(c < 0x80 for c in text):
        return "ascii_other"
    if any(cjk(ord(ch)) for ch in text.decode("utf-8")):
        return "cjk"
    return "other_unicode"


def cm_volume_sq(X):
    """Cayley–Menger: vol² = −det(CM)/9216 for 5 points; also Π‖x_k − x_0‖²."""
    D2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    CM = np.ones((6, 6))
    CM[0, 0] = 0
    CM[1:, 1:] = D2
    return -np.linalg.det(CM) / 9216.0, np.prod(D2[0, 1:])


def penta_stats(vols):
    vols = np.array(vols)
    if len(vols) == 0:
        return None, None
    m = vols.mean()
    return m, (vols.std() / m if len(vols) >= 2 and m > 0 else None)


def reference(d, sample, dup, pent, seed):
    idx, raw16 = load(d)
    V, H = raw16.shape
    scale = idx.get("embed_scale", 1.0)
    E = raw16 * scale
    r = {}
    norms = np.linalg.norm(E, axis=1)
    r["norms"] = dist(norms)
    r["norms"]["zero_rows"] = int((norms < 1e-6).sum())
    order = np.lexsort((np.arange(V), -norms))
    r["largest"] = [int(i) for i in order[:10]]
    order = np.lexsort((np.arange(V), norms))
    r["smallest"] = [int(i) for i in order[:10]]
    mu, sd = E.mean(0), E.std(0)
    r["dims"] = {"mean_of_means": mu.mean(), "mean_of_stds": sd.mean(), "std_of_means": mu.std(),
                 "max_abs_mean": np.abs(mu).max(), "max_std": sd.max(), "mean": mu, "std": sd}
    # samples (§2)
    n_p, n_d = min(sample, V), min(dup, V)
    ids = fy_prefix(V, max(n_p, n_d), Stream(seed, 0))
    nrm = np.linalg.norm(raw16, axis=1)
    U = np.divide(raw16, nrm[:, None], out=np.zeros_like(raw16), where=nrm[:, None] > 0)
    P = U[ids[:n_p]]
    G = P @ P.T
    iu = np.triu_indices(n_p, 1)
    r["pairwise"] = dist(np.clip(G[iu], -1, 1))
    r["pairs"] = len(iu[0])
    # spectrum (§3.4)
    Ec = E - mu
    C = Ec.T @ Ec / V
    lam = np.clip(np.linalg.eigvalsh(C)[::-1], 0, None)
    tot = np.trace(C)
    cum = np.cumsum(lam) / tot
    r["spectrum"] = {"total_variance": tot, "pc1": lam[0] / tot, "pc1_3": lam[:3].sum() / tot,
                     "participation_ratio": tot ** 2 / (lam ** 2).sum(), "pr_over_h": tot ** 2 / (lam ** 2).sum() / H}
    r["eig"] = lam
    r["cum"] = cum
    r["dims_k"] = [int(np.argmax(cum >= f)) + 1 if (cum >= f).any() else H for f in (0.8, 0.9, 0.95, 0.99)]
    # pentachora (§3.5)
    s1, g = Stream(seed, 1), Stream(seed, 2)
    gz = g.gauss(pent * 5 * H).reshape(pent, 5, H) if pent else None
    vols, gvols = [], []
    if V >= 5:
        for s in range(pent):
            sub = []
            while len(sub) < 5:
                t = s1.below(V)
                if t not in sub:
                    sub.append(t)
            v2, bound = cm_volume_sq(E[sub])
            if 576 * v2 > 1e-9 * bound:
                vols.append(np.sqrt(v2))
            v2, bound = cm_volume_sq(gz[s] * sd)
            if 576 * v2 > 1e-9 * bound:
                gvols.append(np.sqrt(v2))
    m, cv = penta_stats(vols)
    gm, gcv = penta_stats(gvols)
    r["penta"] = {"valid": len(vols), "mean_volume": m, "cv": cv, "gaussian_valid": len(gvols),
                  "gaussian_mean_volume": gm, "gaussian_cv": gcv, "ratio_to_gaussian": m / gm if m and gm else None}
    # digits (§3.6)
    style, raws, texts = read_vocab(d)
    dig = {}
    for i, t in enumerate(texts):
        if raws[i] and len(t) == 1 and 48 <= t[0] <= 57 and t[0] - 48 not in dig:
            dig[t[0] - 48] = i
    present = sorted(dig)
    cosm = [[None] * 10 for _ in range(10)]
    for a in present:
        for b in present:
            cosm[a][b] = float(U[dig[a]] @ U[dig[b]])
    pairs = [(a, b) for a in present for b in present if a < b]
    dd = np.array([b - a for a, b in pairs], dtype=float)
    cc = np.array([cosm[a][b] for a, b in pairs])
    r["digits"] = {"present": len(present), "ids": dig, "cosine": cosm,
                   "adjacent_mean": cc[dd == 1].mean() if (dd == 1).any() else None,
                   "nonadjacent_mean": cc[dd >= 2].mean() if (dd >= 2).any() else None}
    r["digits"]["gap"] = (r["digits"]["adjacent_mean"] - r["digits"]["nonadjacent_mean"]
                          if (dd == 1).any() and (dd >= 2).any() else None)
    r["digits"]["distance_correlation"] = (float(np.corrcoef(dd, cc)[0, 1])
                                           if len(present) >= 3 and cc.std() > 0 else None)
    # near duplicates (§3.7)
    sid = ids[:n_d]
    S = U[sid] @ U.T
    S[np.arange(n_d), sid] = -np.inf
    nn1 = S.max(1) if V > 1 else np.zeros(n_d)
    nn1[~np.isfinite(nn1)] = 0
    nn1[nrm[sid] == 0] = 0
    nn1 = np.clip(nn1, -1, 1)
    r["nn1"] = dist(nn1)
    r["nn1_raw"] = nn1
    # token classes (§3.8)
    cl = {}
    for i in range(V):
        k = token_class(raws[i], texts[i], style)
        cl[k] = cl.get(k, 0) + 1
    cl["leading_space"] = sum(1 for i in range(V) if raws[i] and texts[i][:1] == b" ")
    r["classes"] = cl
    # layers: top-F numbers and coherence (§4.1, §4.4)
    L, F = idx["num_layers"], idx["num_feats"]
    gate = np.frombuffer(open(f"{d}/gate_vectors.bin", "rb").read(), dtype="<f2").astype(np.float64).reshape(L, F, H)
    layers = []
    for l in range(L):
        e = {}
        for kind in ("gate", "down"):
            s = np.array(idx["layers"][l][kind + "_sigma"], dtype=np.float64)
            e[kind] = {"sigma1": s[0], "stable_rank_topf": (s ** 2).sum() / s[0] ** 2,
                       "pr_topf": s.sum() ** 2 / (s ** 2).sum(), "condition_topf": s[0] / s[-1] if s[-1] > 0 else None}
        if l + 1 < L:
            A = gate[l] / np.linalg.norm(gate[l], axis=1, keepdims=True)
            B = gate[l + 1] / np.linalg.norm(gate[l + 1], axis=1, keepdims=True)
            e["gate_coherence"] = np.abs(A @ B.T).max(1).mean()
            Qa, Qb = scipy.linalg.orth(A.T), scipy.linalg.orth(B.T)
            e["gate_subspace_similarity"] = (np.linalg.norm(Qa.T @ Qb) ** 2) / F
        else:
            e["gate_coherence"] = e["gate_subspace_similarity"] = None
        layers.append(e)
    r["layers"] = layers
    battery_reference(d, idx, r)
    return r


def battery_reference(d, idx, r):
    """§4.1-§4.3 and §4.5 from spectra.bin, index.json weights, neurons.bin, moments.bin."""
    L, F, H, K = idx["num_layers"], idx["num_feats"], idx["hidden_size"], idx["down_top_k"]
    files = idx["files"]
    sp = (np.fromfile(f"{d}/spectra.bin", dtype="<f4").astype(np.float64).reshape(L, 2, H)
          if "spectra.bin" in files else None)
    for l in range(L):
        e = r["layers"][l]
        w = idx["layers"][l].get("weights")
        e["weights"] = w
        for ki, kind in enumerate(("gate", "down")):
            if sp is None:
                continue
            rb = H
            if w:
                rb = min(H, w["gate"]["rows"] if kind == "gate" else w["down"]["cols"])
            s = sp[l, ki, :rb]
            s1 = s[0]
            c = np.cumsum(s) / s.sum()
            e[kind].update({"stable_rank": (s ** 2).sum() / s1 ** 2, "participation_ratio": s.sum() ** 2 / (s ** 2).sum(),
                            "active_fraction": (s > 0.01 * s1).sum() / rb, "condition": s1 / s[-1] if s[-1] > 0 else None,
                            "topf_share": (np.array(idx["layers"][l][kind + "_sigma"], dtype=np.float64) ** 2).sum()
                            / w[kind]["fro"] ** 2 if w else None})
            e[kind + "_int"] = {"rank_bound": rb, "rank_90": int(np.argmax(c >= 0.9)) + 1,
                                "condition_resolved": bool(s[-1] > s1 * np.sqrt(H * 2.0 ** -24))}
            e[kind + "_near90"] = bool(np.any(np.abs(c - 0.9) < 1e-6))
        nm = idx["layers"][l].get("neurons")
        if nm and "neurons.bin" in files:
            raw = np.fromfile(f"{d}/neurons.bin", dtype="<f4", count=len(nm["kinds"]) * nm["count"],
                              offset=nm["offset"]).astype(np.float64).reshape(len(nm["kinds"]), nm["count"])
            score = raw.prod(0)
            e["neurons"] = {"count": nm["count"], "dead": int((score < 0.01 * score.mean()).sum()),
                            "weak": int((score < 0.1 * score.mean()).sum()),
                            "per_matrix": {k: {"mean_norm": raw[i].mean(), "dead": int((raw[i] < 0.01 * raw[i].mean()).sum()),
                                               "weak": int((raw[i] < 0.1 * raw[i].mean()).sum())}
                                           for i, k in enumerate(nm["kinds"])}}
        else:
            e["neurons"] = None
    r["directions"] = None
    if "moments.bin" in files:
        mo = np.fromfile(f"{d}/moments.bin", dtype="<f4").astype(np.float64).reshape(L, 2, F, 4)
        dm = np.frombuffer(open(f"{d}/down_meta.bin", "rb").read()[32:], dtype=[("id", "<u4"), ("v", "<f4")]).reshape(L, 2, F, 2 * K)
        out = {}
        for name, sign in (("prediction", 1), ("suppression", -1)):
            cand = [(-mo[l, 1, f, 3], (l * 2 + 1) * F + f, l, f) for l in range(L) for f in range(F)
                    if np.sign(mo[l, 1, f, 2]) == sign]
            cand.sort()
            lst = []
            for _, _, l, f in cand[:10]:
                rec = dm[l, 1, f]
                toks = rec["id"][:K] if sign > 0 else rec["id"][K:]
                lst.append({"layer": l, "feature": f, "mean": mo[l, 1, f, 0], "std": mo[l, 1, f, 1], "skew": mo[l, 1, f, 2],
                            "kurtosis": mo[l, 1, f, 3], "top_tokens": [int(t) for t in toks[:min(5, K)]]})
            out[name] = lst
        r["directions"] = out


# ------------------------------------------------------------------ comparison

def close(a, b, tol=1e-3, abs_tol=0.0):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol * abs(b) + abs_tol


def cmp_dist(name, got, ref, cosine=False):
    for k in ["mean", "std", "min", "max"] + PK:
        at = 1e-4 if cosine else 1e-12
        check(close(got[k], ref[k], 1e-3, at), f"{name}.{k}: {got[k]} vs numpy {ref[k]}")


def near_threshold(vals, thr, eps=2e-6):
    return bool((np.abs(np.asarray(vals) - thr) < eps).any())


def compare(tag, j, r):
    e = j["embeddings"]
    cmp_dist(f"{tag} norms", e["norms"], r["norms"])
    check(e["norms"]["zero_rows"] == r["norms"]["zero_rows"], f"{tag} zero_rows {e['norms']['zero_rows']} vs {r['norms']['zero_rows']}")
    check([t["token_id"] for t in e["norms"]["largest"]] == r["largest"], f"{tag} largest-norm tokens")
    check([t["token_id"] for t in e["norms"]["smallest"]] == r["smallest"], f"{tag} smallest-norm tokens")
    check(e["norms"]["max_token_id"] == r["largest"][0] and e["norms"]["min_token_id"] == r["smallest"][0], f"{tag} extreme ids")
    rd = r["dims"]
    for k in ("mean_of_means", "mean_of_stds", "std_of_means", "max_abs_mean", "max_std"):
        check(close(e["dims"][k], rd[k], 1e-3, 1e-6 * rd["max_std"]), f"{tag} dims.{k}: {e['dims'][k]} vs {rd[k]}")
    check(np.allclose(e["dims"]["mean"], rd["mean"], rtol=1e-3, atol=1e-6 * rd["max_std"]), f"{tag} dims.mean[]")
    check(np.allclose(e["dims"]["std"], rd["std"], rtol=1e-3, atol=1e-9), f"{tag} dims.std[]")
    cmp_dist(f"{tag} pairwise", e["pairwise_cosine"], r["pairwise"], cosine=True)
    check(e["pairwise_cosine"]["pairs"] == r["pairs"], f"{tag} pairs")
    sp = e["spectrum"]
    for k, v in r["spectrum"].items():
        check(close(sp[k], v), f"{tag} spectrum.{k}: {sp[k]} vs numpy {v}")
    lam = r["eig"]
    got = np.array(sp["eigenvalues"])
    check(len(got) == len(lam) and np.all(np.abs(got - lam) <= 1e-3 * lam + 1e-5 * lam[0]), f"{tag} eigenvalues")
    for k, f, want in zip(("dims_80", "dims_90", "dims_95", "dims_99"), (0.8, 0.9, 0.95, 0.99), r["dims_k"]):
        ok = sp[k] == want or (abs(sp[k] - want) == 1 and near_threshold(r["cum"], f, 1e-5))
        check(ok, f"{tag} spectrum.{k}: {sp[k]} vs numpy {want}")
    pe, rp = e["pentachora"], r["penta"]
    check(pe["valid"] == rp["valid"] and pe["gaussian_valid"] == rp["gaussian_valid"], f"{tag} pentachora valid counts {pe['valid']}/{pe['gaussian_valid']} vs {rp['valid']}/{rp['gaussian_valid']}")
    for k in ("mean_volume", "cv", "gaussian_mean_volume", "gaussian_cv", "ratio_to_gaussian"):
        check(close(pe[k], rp[k]), f"{tag} pentachora.{k}: {pe[k]} vs numpy {rp[k]}")
    dg, rdg = e["digits"], r["digits"]
    check(dg["present"] == rdg["present"], f"{tag} digits present")
    check({t["digit"]: t["token_id"] for t in dg["tokens"]} == rdg["ids"], f"{tag} digit tokens")
    ok = all(close(dg["cosine"][a][b], rdg["cosine"][a][b], 0, 1e-4) for a in range(10) for b in range(10))
    check(ok, f"{tag} digit cosine matrix")
    for k in ("distance_correlation", "adjacent_mean", "nonadjacent_mean", "gap"):
        check(close(dg[k], rdg[k], 1e-3, 1e-4), f"{tag} digits.{k}: {dg[k]} vs numpy {rdg[k]}")
    nd = e["near_duplicates"]
    cmp_dist(f"{tag} nn1", nd, r["nn1"], cosine=True)
    for k, t in (("count_099", 0.99), ("count_0999", 0.999)):
        want = int((r["nn1_raw"] >= t).sum())
        check(nd[k] == want or near_threshold(r["nn1_raw"], t), f"{tag} {k}: {nd[k]} vs numpy {want}")
    tc = e["token_classes"]
    want = {k: r["classes"].get(k, 0) for k in tc}
    check(tc == want, f"{tag} token classes {tc} vs {want}")
    check(sum(v for k, v in tc.items() if k != "leading_space") == e["rows"], f"{tag} classes sum to V")
    for l, (gl, rl) in enumerate(zip(j["layers"], r["layers"])):
        for kind in ("gate", "down"):
            for k, v in rl[kind].items():
                check(close(gl[kind][k], v), f"{tag} layer {l} {kind}.{k}: {gl[kind][k]} vs {v}")
        for k in ("gate_coherence", "gate_subspace_similarity"):
            check(close(gl[k], rl[k], 1e-3, 1e-6), f"{tag} layer {l} {k}: {gl[k]} vs {rl[k]}")
        if "stable_rank" in rl["gate"] or rl.get("neurons") is not None:
            battery_compare(f"{tag} layer {l}", gl, rl)
    dirs = r.get("directions")
    if dirs is None:
        check(j["directions"] is None, f"{tag} no moments.bin: directions null")
    else:
        for name in ("prediction", "suppression"):
            got, want = j["directions"][name], dirs[name]
            check([(x["layer"], x["feature"]) for x in got] == [(x["layer"], x["feature"]) for x in want],
                  f"{tag} {name} directions {[(x['layer'], x['feature']) for x in got]} vs {[(x['layer'], x['feature']) for x in want]}")
            for a, b in zip(got, want):
                check(all(close(a[k], b[k], 1e-6, 1e-9) for k in ("mean", "std", "skew", "kurtosis")), f"{tag} {name} moments")
                check([t["token_id"] for t in a["top_tokens"]] == b["top_tokens"], f"{tag} {name} {a['layer']}:{a['feature']} tokens")
                check(a["kind"] == "down", f"{tag} {name}: down directions")
    co = [x["gate_coherence"] for x in r["layers"] if x["gate_coherence"] is not None]
    check(close(j["gate_coherence_mean"], float(np.mean(co)) if co else None), f"{tag} gate_coherence_mean")


def battery_compare(tag, gl, rl):
    for kind in ("gate", "down"):
        if "stable_rank" not in rl[kind]:
            check(gl[kind]["stable_rank"] is None and gl[kind]["rank_90"] is None, f"{tag} {kind}: no spectrum, nulls")
            continue
        for k in ("stable_rank", "participation_ratio", "active_fraction", "condition", "topf_share"):
            check(close(gl[kind][k], rl[kind][k]), f"{tag} {kind}.{k}: {gl[kind][k]} vs numpy {rl[kind][k]}")
        ri = rl[kind + "_int"]
        check(gl[kind]["rank_bound"] == ri["rank_bound"], f"{tag} {kind}.rank_bound")
        check(gl[kind]["rank_90"] == ri["rank_90"] or rl[kind + "_near90"], f"{tag} {kind}.rank_90 {gl[kind]['rank_90']} vs {ri['rank_90']}")
        check(gl[kind]["condition_resolved"] == ri["condition_resolved"], f"{tag} {kind}.condition_resolved")
    w = rl.get("weights")
    if w:
        for m in ("gate", "up", "down"):
            if m not in w:
                check(gl["weights"][m] is None, f"{tag} weights.{m} null")
                continue
            g = gl["weights"][m]
            check(g["rows"] == w[m]["rows"] and g["cols"] == w[m]["cols"] and close(g["fro"], w[m]["fro"], 1e-12)
                  and np.allclose(g["sparsity"], w[m]["sparsity"], rtol=1e-12, atol=0), f"{tag} weights.{m}")
    n = rl.get("neurons")
    if n is None:
        check(gl["neurons"] is None, f"{tag} neurons null")
    else:
        g = gl["neurons"]
        check(g["count"] == n["count"] and g["dead"] == n["dead"] and g["weak"] == n["weak"],
              f"{tag} neurons {g['count']}/{g['dead']}/{g['weak']} vs {n['count']}/{n['dead']}/{n['weak']}")
        for m in ("gate", "up", "down"):
            if m not in n["per_matrix"]:
                check(g["per_matrix"][m] is None, f"{tag} neurons.{m} null")
                continue
            a, b = g["per_matrix"][m], n["per_matrix"][m]
            check(close(a["mean_norm"], b["mean_norm"], 1e-9) and a["dead"] == b["dead"] and a["weak"] == b["weak"],
                  f"{tag} neurons.{m}: {a} vs {b}")
    check(gl["partial"] == (rl.get("neurons") is None or "stable_rank" not in rl["gate"] or not w), f"{tag} partial flag")


def plant_battery(src, dst, seed=11):
    """A copy of a version-2 vindex whose battery files hold values chosen to straddle every
    threshold of §4 (open() checks sizes, not values' provenance): spectra with a tail below
    0.01·σ₁ and exact zeros, neurons with dead (< 1 %) and weak (< 10 %) ones, moments with
    both skew signs and tied kurtoses."""
    shutil.copytree(src, dst)
    idx = json.load(open(f"{dst}/index.json"))
    L, F, H = idx["num_layers"], idx["num_feats"], idx["hidden_size"]
    rng = np.random.default_rng(seed)
    sp = np.fromfile(f"{dst}/spectra.bin", dtype="<f4").reshape(L, 2, H).copy()
    for l in range(L):
        for k in range(2):
            s = np.sort(rng.lognormal(0, 1.5, H))[::-1].astype(np.float32)
            s[H - H // 4:] = 0 if (l + k) % 2 else s[H - H // 4:]
            s[:F] = np.array(idx["layers"][l]["gate_sigma" if k == 0 else "down_sigma"], dtype=np.float32)
            s[F:] = np.minimum(s[F:], s[F - 1])
            sp[l, k] = s
    sp.tofile(f"{dst}/spectra.bin")
    nb = np.fromfile(f"{dst}/neurons.bin", dtype="<f4").copy()
    for l in range(L):
        nm = idx["layers"][l]["neurons"]
        n, kk = nm["count"], len(nm["kinds"])
        blk = rng.uniform(0.5, 1.5, (kk, n)).astype(np.float32)
        blk[0, : n // 10] *= 0.005
        blk[1 % kk, n // 10: n // 5] *= 0.05
        nb[nm["offset"] // 4: nm["offset"] // 4 + kk * n] = blk.ravel()
    nb.tofile(f"{dst}/neurons.bin")
    mo = np.fromfile(f"{dst}/moments.bin", dtype="<f4").reshape(L, 2, F, 4).copy()
    mo[..., 2] = rng.choice([-2, -0.5, 0.5, 2], size=(L, 2, F)).astype(np.float32)
    mo[..., 3] = rng.choice([1.0, 3.0, 7.0], size=(L, 2, F)).astype(np.float32)
    mo.tofile(f"{dst}/moments.bin")


def downgrade(src, dst):
    """A version-1 copy of a version-2 vindex: the battery files, keys and unembedding removed."""
    shutil.copytree(src, dst)
    idx = json.load(open(f"{dst}/index.json"))
    for f in ("spectra.bin", "neurons.bin", "moments.bin", "unembed.bin"):
        if os.path.exists(f"{dst}/{f}"):
            os.remove(f"{dst}/{f}")
        idx["files"].pop(f, None)
    idx["version"] = 1
    for k in ("unembedding", "unembed_clamped", "extract_level"):
        idx.pop(k, None)
    for l in idx["layers"]:
        l.pop("weights", None)
        l.pop("neurons", None)
    json.dump(idx, open(f"{dst}/index.json", "w"))


def stats_json(d, *args):
    p = subprocess.run([VINDEX, "stats", d, "--json", *args], capture_output=True)
    if p.returncode != 0:
        raise RuntimeError(f"stats {d} {args}: exit {p.returncode}: {p.stderr.decode()}")
    return json.loads(p.stdout)


def run_case(tag, d, sample=5000, dup=1000, pent=1000, seed=42, extra=()):
    args = ["--sample", str(sample), "--dup-sample", str(dup), "--pentachora", str(pent), "--seed", str(seed), *extra]
    try:
        j = stats_json(d, *args)
    except RuntimeError as ex:
        check(False, f"{tag}: {ex}")
        return None
    compare(tag, j, reference(d, sample, dup, pent, seed))
    return j


def plant(d, seed=7):
    """Zero, duplicate and near-duplicate rows in a synthetic vindex's embeddings (open()
    does not check hashes, R-O4), and an embed_scale in index.json."""
    idx = json.load(open(f"{d}/index.json"))
    V, H = idx["vocab_size"], idx["hidden_size"]
    E = np.fromfile(f"{d}/embeddings.bin", dtype="<f2").reshape(V, H).copy()
    rng = np.random.default_rng(seed)
    E[3] = 0
    E[10] = E[11]
    E[12] = E[11]
    E[20] = (E[21].astype(np.float64) + 0.02 * rng.standard_normal(H) * np.abs(E[21]).mean()).astype("<f2")
    E[30:40] = E[40]
    E.tofile(f"{d}/embeddings.bin")
    idx["embed_scale"] = 2.5
    json.dump(idx, open(f"{d}/index.json", "w"))


def usage_tests(d):
    def rc_of(*a):
        return subprocess.run([VINDEX, "stats", *a], capture_output=True).returncode
    for bad in (["--sample", "1", d], ["--sample", "x", d], ["--sample", "10001", d], ["--dup-sample", "0", d],
                ["--layers", "3-1", d], ["--layers", "99", d], ["--layers", "a-b", d], ["--seed", "-1", d],
                ["--pentachora", "-2", d], ["--bogus", d], [], [d, d]):
        check(rc_of(*bad) == 2, f"stats {' '.join(bad)}: exit 2")
    check(rc_of("/nonexistent/vindex") == 1, "stats of a missing vindex: exit 1")
    p = subprocess.run([VINDEX, "stats", "--help"], capture_output=True)
    check(p.returncode == 0 and b"usage: vindex stats" in p.stdout, "stats --help")


def v1_tests(d):
    """A version-1 vindex: exit 0, `lacks` names the battery, layers partial, nulls."""
    p = subprocess.run([VINDEX, "stats", d, "--json", "--sample", "100", "--dup-sample", "10"], capture_output=True)
    check(p.returncode == 0, "v1 vindex: exit 0")
    j = json.loads(p.stdout)
    check(any("spectra.bin" in s for s in j["lacks"]) and any("version 1" in s for s in j["lacks"]), "v1: lacks names spectra and version 1")
    check(all(l["partial"] for l in j["layers"]), "v1: every layer partial")
    check(all(l["gate"]["stable_rank"] is None and l["weights"] is None and l["neurons"] is None for l in j["layers"]),
          "v1: battery numbers null")
    check(j["directions"] is None, "v1: no directions")
    p = subprocess.run([VINDEX, "stats", d, "--sample", "100", "--dup-sample", "10"], capture_output=True)
    check(p.returncode == 0 and b"lacks: spectra.bin" in p.stdout, "v1: the table says what is missing")


# ------------------------------------------------------------------ causal metric (§6)

def causal_ref(d, q, exclude, k=10):
    idx, emb = load(d)
    V, H = emb.shape
    G = (np.fromfile(f"{d}/unembed.bin", dtype="<f2").astype(np.float64).reshape(V, H)
         if os.path.exists(f"{d}/unembed.bin") else emb)
    mu = G.mean(0)
    C = (G - mu).T @ (G - mu) / V
    lam, Q = np.linalg.eigh(C)
    lam, Q = lam[::-1], Q[:, ::-1]
    keep = lam > 1e-6 * lam[0]
    W = Q[:, keep] / np.sqrt(lam[keep])
    Z = (G - mu) @ W
    if isinstance(q, int):
        q = G[q]
    elif isinstance(q, list):
        q = G[q].mean(0)
    zq = (q - mu) @ W
    zn = np.linalg.norm(Z, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = Z @ zq / (zn * np.linalg.norm(zq))
    c[~np.isfinite(c)] = 0
    c = np.clip(c, -1, 1)
    if exclude is not None:
        c[exclude] = -np.inf
    order = np.lexsort((np.arange(V), -c))[:k]
    return [(int(i), float(c[i])) for i in order], c


def check_ranking(tag, got, ref_top, ref_all, tol=1e-3):
    check(len(got) == len(ref_top), f"{tag}: {len(got)} tokens vs {len(ref_top)}")
    for (gi, gc), (ri, rc) in zip(((t["token_id"], t["cosine"]) for t in got), ref_top):
        check(abs(gc - rc) <= tol, f"{tag}: cosine {gc} vs numpy {rc}")
        check(gi == ri or abs(ref_all[gi] - rc) <= tol, f"{tag}: token {gi} vs numpy {ri} (not a near-tie)")


def causal_tests(tmp):
    d = os.path.join(tmp, "tiny-qwen3")
    if not os.path.isdir(d):
        return
    def nearest(*a):
        p = subprocess.run([VINDEX, "nearest", d, *a, "--metric", "causal", "--json", "--features", "0"], capture_output=True)
        check(p.returncode == 0, f"nearest causal {a}: exit {p.returncode} {p.stderr.decode()}")
        return json.loads(p.stdout) if p.returncode == 0 else None
    j = nearest("--token", "#1091")
    if j:
        top, allc = causal_ref(d, 1091, 1091)
        check(j.get("metric") == "causal", "causal: JSON says the metric")
        check_ranking("causal token #1091", j["tokens"], top, allc)
    j = nearest("--token", "#7", "--tokens", "50")
    if j:
        top, allc = causal_ref(d, 7, 7, 50)
        check_ranking("causal token #7 (50)", j["tokens"], top, allc)
    j = nearest("--feature", "1:3:down")
    if j:
        idx, _ = load(d)
        F, H = idx["num_feats"], idx["hidden_size"]
        dn = np.fromfile(f"{d}/down_features.bin", dtype="<f2").astype(np.float64).reshape(-1, F, H)
        top, allc = causal_ref(d, dn[1, 3], None)
        check_ranking("causal feature 1:3:down", j["tokens"], top, allc)
    bf = os.path.join(tmp, "batch.txt")
    open(bf, "w").write("#1091\n#12\n#500\n")
    j = nearest("--batch", bf)
    if j:
        for q, t in zip(j["queries"], (1091, 12, 500)):
            top, allc = causal_ref(d, t, t)
            check_ranking(f"causal batch #{t}", q["tokens"], top, allc)
    # plain nearest is unchanged, and says no metric
    p = subprocess.run([VINDEX, "nearest", d, "--token", "#1091", "--json"], capture_output=True)
    check(p.returncode == 0 and "metric" not in json.loads(p.stdout), "plain nearest: no metric key")
    p = subprocess.run([VINDEX, "nearest", d, "--token", "#1091", "--metric", "mahalanobis"], capture_output=True)
    check(p.returncode == 2, "--metric mahalanobis: exit 2")
    # untied: an error without unembed.bin, the unembedding row with it
    dl = os.path.join(tmp, "tiny-llama")
    p = subprocess.run([VINDEX, "nearest", dl, "--token", "#100", "--metric", "causal"], capture_output=True)
    check(p.returncode == 1 and b"--unembed" in p.stderr, f"untied, no unembed.bin: exit 1 naming --unembed ({p.stderr.decode()})")
    du = os.path.join(tmp, "tiny-llama-unembed")
    p = subprocess.run([VINDEX, "extract", os.path.join(FIX, "tiny-llama"), "-o", du, "--features", "16", "--unembed"],
                       capture_output=True)
    if check(p.returncode == 0 and os.path.exists(f"{du}/unembed.bin"), f"extract --unembed: {p.stderr.decode()}"):
        p = subprocess.run([VINDEX, "nearest", du, "--token", "#100", "--metric", "causal", "--json", "--tokens", "20"],
                           capture_output=True)
        if check(p.returncode == 0, f"untied with unembed.bin: {p.stderr.decode()}"):
            top, allc = causal_ref(du, 100, 100, 20)
            check_ranking("causal untied #100", json.loads(p.stdout)["tokens"], top, allc)
            _, emb = load(du)
            check(not np.array_equal(np.fromfile(f"{du}/unembed.bin", dtype="<f2").reshape(emb.shape), emb.astype("<f2")),
                  "the untied fixture's unembedding differs from its embeddings")


def main():
    tmp = tempfile.mkdtemp(prefix="t_stats.")
    try:
        for fx in sorted(os.listdir(FIX)):
            d = os.path.join(tmp, fx)
            p = subprocess.run([VINDEX, "extract", os.path.join(FIX, fx), "-o", d, "--features", "16"], capture_output=True)
            if not check(p.returncode == 0, f"extract {fx}: {p.stderr.decode()}"):
                continue
            run_case(fx, d)
            if fx == "tiny-llama":
                usage_tests(d)
                d1 = d + "-v1"
                downgrade(d, d1)
                v1_tests(d1)
                run_case("tiny-llama-v1", d1, 500, 100, 50)
                a = stats_json(d, "--sample", "300", "--seed", "5", "--dup-sample", "50")
                b = stats_json(d, "--sample", "300", "--seed", "5", "--dup-sample", "50")
                c = stats_json(d, "--sample", "300", "--seed", "6", "--dup-sample", "50")
                check(a == b, "same seed, same output")
                check(a["embeddings"]["pairwise_cosine"] != c["embeddings"]["pairwise_cosine"], "another seed, another sample")
                j = stats_json(d, "--layers", "1-2")
                check([l["layer"] for l in j["layers"]] == [1, 2], "--layers 1-2 selects layers 1 and 2")
                j = stats_json(d, "--layers", "3")
                check([l["layer"] for l in j["layers"]] == [3] and j["layers"][0]["gate_coherence"] is None,
                      "--layers 3: the last layer, no successor")
            if fx == "tiny-qwen3":
                dp = d + "-planted"
                plant_battery(d, dp)
                j = run_case("tiny-qwen3-planted", dp, 300, 50, 20)
                if j:
                    check(all(l["neurons"]["dead"] > 0 and l["neurons"]["weak"] > l["neurons"]["dead"] for l in j["layers"]),
                          "planted: dead and weak neurons found")
                    check(any(l["gate"]["active_fraction"] < 1 for l in j["layers"]), "planted: inactive singular values")
        for style, shape, sample, dup in (("bytelevel", ["--layers", "3", "--feats", "8", "--hidden", "64", "--vocab", "3000"], 700, 300),
                                          ("metaspace", ["--layers", "2", "--feats", "5", "--hidden", "33", "--vocab", "1500"], 5000, 2000)):
            d = os.path.join(tmp, "syn-" + style)
            p = subprocess.run([MKVINDEX, d, *shape, "--style", style, "--topk", "4"], capture_output=True)
            if not check(p.returncode == 0, f"mkvindex {style}: {p.stderr.decode()}"):
                continue
            plant(d)
            j = run_case("syn-" + style, d, sample, dup, 200, 9)
            if j:
                nd = j["embeddings"]["near_duplicates"]
                check(j["embeddings"]["norms"]["zero_rows"] >= 1, f"syn-{style}: the planted zero row is counted")
                check(j["embeddings"]["embed_scale"] == 2.5, f"syn-{style}: embed_scale read")
                if style == "metaspace":
                    check(nd["count_0999"] >= 13, f"syn-{style}: the planted duplicates found ({nd['count_0999']})")
        causal_tests(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
