#!/usr/bin/python3
"""t_stats_nn1.py — the near-duplicate nearest neighbours of `vindex stats` (spec/stats.md
§3.7) are the same bits whichever screen finds them: VINDEX_STATS_NN1=exact (every pair
computed exactly), f32 (the sgemm screen) and the default (the bf16 screen on CPUs with
AVX-512 BF16) must print byte-identical JSON, and the nn1 section must not depend on the
thread count. Vindexes: two fixtures, and synthetic ones whose every row is in the sample
(--dup-sample V) with planted exact duplicates (ties), scaled and negated copies, rows at
cosines just around 0.99 and 0.999, clusters of near-ties a few 1e-6 apart (closer than
the bf16 screen can tell apart, so only exact rechecks order them), and one whose rows all
share a large mean (every cosine near 1, the centring shift large). nn1 is also checked
against a float64 numpy maximum. Run with /usr/bin/python3.
"""
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np
from vxtest import BDIR, FIX, VINDEX, check, finish

MKVINDEX = os.path.join(BDIR, "tools", "mkvindex")


def has_bf16():
    try:
        return "avx512_bf16" in open("/proc/cpuinfo").read()
    except OSError:
        return False


def stats(d, mode=None, threads=None, args=()):
    env = dict(os.environ, VINDEX_STATS_TIMING="1")
    env.pop("VINDEX_STATS_NN1", None)
    if mode:
        env["VINDEX_STATS_NN1"] = mode
    if threads:
        env["VINDEX_THREADS"] = str(threads)
        env["OPENBLAS_NUM_THREADS"] = str(threads)
    p = subprocess.run([VINDEX, "stats", d, "--json", *args], capture_output=True, env=env)
    screen = [l for l in p.stderr.decode().splitlines() if "nn1" in l]
    return p.returncode, p.stdout, screen[0] if screen else ""


def compare_modes(tag, d, args=()):
    rc, auto, line = stats(d, None, None, args)
    if not check(rc == 0, f"{tag}: stats exit {rc}"):
        return None
    want = "bf16" if has_bf16() else "f32"
    check(f"nn1 {want} screen" in line, f"{tag}: the default path is the {want} screen ({line})")
    for mode in ("exact", "f32"):
        rc, out, line = stats(d, mode, None, args)
        check(rc == 0 and f"nn1 {mode} screen" in line, f"{tag}: {mode} path ran ({line})")
        check(out == auto, f"{tag}: {mode} path JSON byte-identical to the default")
    j = json.loads(auto)
    nd = j["embeddings"]["near_duplicates"]
    for t in (1, 3):
        rc, out, _ = stats(d, None, t, args)
        check(rc == 0 and json.loads(out)["embeddings"]["near_duplicates"] == nd, f"{tag}: nn1 with {t} thread(s) the same")
    return j


def load(d):
    idx = json.load(open(f"{d}/index.json"))
    V, H = idx["vocab_size"], idx["hidden_size"]
    return V, H, np.fromfile(f"{d}/embeddings.bin", dtype="<f2").reshape(V, H)


def numpy_nn1(E):
    """nn1 of every row (the sample is every row), float64, ST-C1 for zero rows."""
    X = E.astype(np.float64)
    n = np.linalg.norm(X, axis=1)
    U = np.divide(X, n[:, None], out=np.zeros_like(X), where=n[:, None] > 0)
    C = U @ U.T
    np.fill_diagonal(C, -np.inf)
    C[:, n == 0] = -np.inf
    nn = C.max(1)
    nn[~np.isfinite(nn)] = 0
    nn[n == 0] = 0
    return np.clip(nn, -1, 1)


def with_cos(x, c, rng):
    """A row at cosine c from x (before f16 rounding), same norm."""
    z = rng.standard_normal(x.shape)
    z -= z.dot(x) / x.dot(x) * x
    z *= np.linalg.norm(x) / np.linalg.norm(z)
    return c * x + np.sqrt(1 - c * c) * z


def plant_nn1(d, seed=3, mean=0.0):
    V, H, E = load(d)
    rng = np.random.default_rng(seed)
    X = E.astype(np.float64)
    X = X / np.linalg.norm(X, axis=1, keepdims=True).mean() + mean
    k = 0
    def nxt():
        nonlocal k
        k += 7
        return k
    for c in (0.99, 0.999, 0.9899, 0.98999, 0.99001, 0.9989, 0.99899, 0.99901, 0.9999):
        for _ in range(3):
            i = nxt()
            X[i + 1] = with_cos(X[i], c, rng)
    for _ in range(4):                 # ties: several exact copies
        i = nxt()
        X[i + 1:i + 4] = X[i]
    i = nxt(); X[i + 1] = 2 * X[i]     # scaled: cosine 1 up to rounding
    i = nxt(); X[i + 1] = -X[i]        # negated
    i = nxt(); X[i] = 0                # a zero row
    for _ in range(6):                 # near-ties: cosines ~1 - 1e-6 apart
        i = nxt()
        base = X[i].copy()
        for j in range(1, 6):
            X[i + j] = base + 1e-3 * j * rng.standard_normal(H) * np.abs(base).mean()
    E = X.astype("<f2")
    E.tofile(f"{d}/embeddings.bin")
    return E


def main():
    tmp = tempfile.mkdtemp(prefix="t_stats_nn1.")
    try:
        for fx in ("tiny-llama", "tiny-qwen3"):
            d = os.path.join(tmp, fx)
            p = subprocess.run([VINDEX, "extract", os.path.join(FIX, fx), "-o", d, "--features", "8"], capture_output=True)
            if check(p.returncode == 0, f"extract {fx}: {p.stderr.decode()}"):
                compare_modes(fx, d)
                compare_modes(fx + " seed 7", d, ("--dup-sample", "300", "--seed", "7", "--sample", "100"))
        for tag, H, V, mean in (("planted", 96, 1500, 0.0), ("planted-odd", 77, 1200, 0.0), ("shared-mean", 64, 1000, 3.0)):
            d = os.path.join(tmp, tag)
            p = subprocess.run([MKVINDEX, d, "--layers", "2", "--feats", "4", "--hidden", str(H), "--vocab", str(V)],
                               capture_output=True)
            if not check(p.returncode == 0, f"mkvindex {tag}: {p.stderr.decode()}"):
                continue
            E = plant_nn1(d, mean=mean)
            j = compare_modes(tag, d, ("--dup-sample", str(V), "--sample", "200", "--pentachora", "10"))
            if not j:
                continue
            nd = j["embeddings"]["near_duplicates"]
            ref = numpy_nn1(E)
            check(nd["sample"] == V, f"{tag}: every row sampled")
            for key, val in (("max", ref.max()), ("min", ref.min()), ("mean", ref.mean())):
                check(abs(nd[key] - val) <= 2e-6, f"{tag}: nn1 {key} {nd[key]} vs numpy {val}")
            for key, t in (("count_099", 0.99), ("count_0999", 0.999)):
                want = int((ref >= t).sum())
                near = int((np.abs(ref - t) <= 2e-6).sum())
                check(abs(nd[key] - want) <= near, f"{tag}: {key} {nd[key]} vs numpy {want} ({near} within 2e-6)")
            if mean == 0:
                check(nd["count_0999"] >= 20, f"{tag}: planted near-duplicates found ({nd['count_0999']})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
