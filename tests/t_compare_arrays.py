#!/usr/bin/python3
"""compare's per-token arrays (vx_compare_opts.keep_arrays, spec/compare.md §11), through the
Python binding's compare(arrays=True):

1. each array against the float64 numpy/scipy reference (tools/bench_compare_ref.py, the
   same `compare()` t_compare.py checks the statistics with, asked to keep its arrays);
2. the statistics of the same call recomputed from its arrays: mean, std, median,
   percentiles, extremes and their tokens, frac_above (held-out and over every token),
   best/worst (the same tokens and the same bits), L2, baseline, relational and digit
   correlations, pentachoron statistics — so a plot drawn from the arrays shows what
   `compare --json` reports;
3. asking for the arrays changes no reported number: the JSON is the same bytes with and
   without them, also when the all-token pass is screened in bf16 (AVX-512 BF16 CPUs).

Pairs: tiny-llama vs tiny-qwen3 (PCA, by text), the same reversed (B the source),
tiny-gemma3 vs tiny-qwen3 (embed_scale), and build/tools/mkpair pairs: a Metaspace vs
byte-level vocabulary and a wide pair (640 → 160) with most tokens neither anchors nor
test tokens (the screened path). Prints "N passed, N failed"."""
import json
import os
import subprocess
import sys
import tempfile
import shutil

from vxtest import BDIR, FIX, ROOT, VINDEX, check, finish, reexec_with

LIB = os.path.join(BDIR, "libvindex.so")
reexec_with(LIB)
os.environ.pop("LD_PRELOAD", None)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import vindex  # noqa: E402
import bench_compare_ref as ref  # noqa: E402

MKPAIR = os.path.join(BDIR, "tools", "mkpair")
PCT = ("p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99")


def close(x, y, tol=1e-12):
    return abs(x - y) <= tol * max(1.0, abs(y))


def vs_reference(name, x, k):
    """Every array against the reference's: cosines to 1e-4 (f32 products, spec §9),
    L2 distances and volumes to 1e-4 of the largest, ids and NaN positions exactly."""
    for key, want in k.items():
        got = x[key]
        if isinstance(want, int):
            check(got == want, "%s: %s %r vs reference %r" % (name, key, got, want))
            continue
        want = np.asarray(want, dtype=np.float64)
        got = np.asarray(got, dtype=np.float64)
        if not check(got.shape == want.shape, "%s: %s shape %r vs reference %r" % (name, key, got.shape, want.shape)):
            continue
        nan_same = np.array_equal(np.isnan(got), np.isnan(want))
        fin = np.isfinite(want)
        scale = max(1.0, np.abs(want[fin]).max()) if key == "test_l2" and fin.any() else 1.0
        scale = np.abs(want[fin]).max() if key.startswith("vol") and fin.any() else scale
        err = float(np.max(np.abs(got[fin] - want[fin]))) / scale if fin.any() else 0.0
        check(nan_same and err < 1e-4, "%s: %s vs float64 reference: max error %.3g, NaN where the reference has NaN: %s"
              % (name, key, err, nan_same))


def stats_from(cs, ids, st, name):
    """spec/compare.md §6 statistics of cs (ids: A ids) against the reported ones."""
    s = np.sort(cs)
    want = {"mean": cs.mean(), "std": cs.std(), "median": np.percentile(s, 50), "min": cs.min(), "max": cs.max()}
    want.update(zip(PCT, np.percentile(s, [1, 5, 10, 25, 50, 75, 90, 95, 99])))
    bad = [(k, st[k], v) for k, v in want.items() if not close(st[k], float(v))]
    ids_ok = st["min_token_id"] == int(ids[int(np.argmin(cs))]) and st["max_token_id"] == int(ids[int(np.argmax(cs))])
    check(not bad and ids_ok, "%s: statistics of the array = the reported ones: %r, extreme tokens %s" % (name, bad[:3], ids_ok))


def frac(cs):
    """count / n, as C divides (np.mean sums pairwise: another last bit)."""
    return {"0.%d" % k: int(np.count_nonzero(cs > k / 10.0)) / len(cs) for k in range(10)}


def frac_same(a, b):
    """The same counts: equal to the JSON's 15 significant digits."""
    return set(a) == set(b) and all(close(a[t], b[t], 1e-14) for t in a)


def ranked(v, sa, sb, k, worst):
    order = np.lexsort((sa, v if worst else -v))[:k]
    return [(int(sa[i]), int(sb[i]), float(v[i])) for i in order]


def pearson_mad(a, b):
    return float(np.corrcoef(a, b)[0, 1]), float(np.mean(np.abs(a - b)))


def vs_json(name, x, j):
    """What compare reports, recomputed from the arrays of the same call."""
    ids = x["test_id"]
    check(len(ids) == j["test"] and len(x["id_a"]) == j["shared_tokens"], name + ": array lengths = test / shared tokens")
    stats_from(x["test_cos"], ids, j["cosine"], name + " held-out cosine")
    stats_from(x["test_cos_centred"], ids, j["cosine_centred"], name + " held-out cosine (centred)")
    stats_from(x["baseline_cos"], ids, j["baseline"], name + " baseline")
    stats_from(x["baseline_cos_centred"], ids, j["baseline_centred"], name + " baseline (centred)")
    l2 = x["test_l2"]
    check(close(l2.mean(), j["l2"]["mean"]) and close(l2.std(), j["l2"]["std"]) and close(np.median(l2), j["l2"]["median"]),
          name + ": L2 statistics of the array")
    for key, cs in (("frac_above_heldout", x["test_cos"]), ("frac_above_centred", x["test_cos_centred"]),
                    ("frac_above", x["all_cos"])):
        check(frac_same(frac(cs), j[key]), "%s: %s from the array: %r vs %r" % (name, key, frac(cs), j[key]))
    check(frac_same(frac(x["baseline_cos"]), j["baseline"]["frac_above"]), name + ": baseline frac_above from the array")
    sa, sb, k = x["id_a"], x["id_b"], len(j["best"])
    for suffix, v in (("", x["all_cos"]), ("_centred", x["all_cos_centred"])):
        for key, worst in (("best", False), ("worst", True)):
            got = [(t["token_id"], t["token_id_b"], t["cosine"]) for t in j[key + suffix]]
            want = ranked(v, sa, sb, k, worst)
            same = [g[:2] for g in got] == [w[:2] for w in want] and all(close(g[2], w[2], 1e-14) for g, w in zip(got, want))
            check(same, "%s: %s%s = the array's ranking (the JSON's 15 digits)" % (name, key, suffix))
    ix = {int(a): i for i, a in enumerate(sa)}
    at = np.array([x["all_cos"][ix[int(t)]] for t in ids])
    check(np.array_equal(at, x["test_cos"]) or np.max(np.abs(at - x["test_cos"])) < 1e-6,
          name + ": the all-token array holds the held-out tokens' cosines")
    m = x["relational_n"]
    check(m == j["relational_tokens"] and len(x["rel_target"]) == m * (m - 1) // 2, name + ": relational pairs")
    r, mad = pearson_mad(x["rel_target"], x["rel_aligned"])
    check(close(r, j["relational_correlation"], 1e-10) and close(mad, j["relational_mean_abs_diff"], 1e-10),
          "%s: relational correlation from the pairs %.12g vs %.12g" % (name, r, j["relational_correlation"]))
    nd = j["digits"]
    dt, da = x["digit_target"], x["digit_aligned"]
    check(dt.shape == (nd, nd) and da.shape == (nd, nd), name + ": digit matrices %r" % (dt.shape,))
    if nd >= 3:
        iu = np.triu_indices(nd, 1)
        r, mad = pearson_mad(dt[iu], da[iu])
        check(close(r, j["digit_correlation"], 1e-10) and close(mad, j["digit_mean_abs_diff"], 1e-10),
              name + ": digit correlation from the matrices")
    vn, va = x["vol_native"], x["vol_aligned"]
    ok = np.isfinite(vn) & np.isfinite(va)
    p = j["pentachoron"]
    check(len(vn) == p["simplices"] and int(ok.sum()) == p["valid"] and np.array_equal(np.isfinite(vn), np.isfinite(va)),
          name + ": one volume pair per simplex, NaN exactly where not valid")
    if p["valid"] >= 2:
        want = {"native_mean": vn[ok].mean(), "native_cv": vn[ok].std() / vn[ok].mean(), "aligned_mean": va[ok].mean(),
                "aligned_cv": va[ok].std() / va[ok].mean(), "volume_ratio": va[ok].mean() / vn[ok].mean(),
                "correlation": np.corrcoef(vn[ok], va[ok])[0, 1]}
        bad = [(kk, p[kk], float(v)) for kk, v in want.items() if not close(p[kk], float(v), 1e-10)]
        check(not bad, "%s: pentachoron statistics from the volumes: %r" % (name, bad))


def case(name, a, b, **kw):
    r = vindex.compare(a, b, arrays=True, **kw)
    x = r.arrays
    plain = vindex.compare(a, b, **kw)
    check(r.to_json() == plain.to_json(), name + ": the JSON is the same bytes with and without the arrays")
    check(getattr(plain, "arrays", None) is None, name + ": no arrays unless asked")
    vs_json(name, x, json.loads(r.to_json()))
    k = {}
    rk = {kk: kw[kk] for kk in ("anchors", "test", "seed") if kk in kw}
    out = ref.compare(a, b, keep=k, map_free_on=False, **rk)
    check(set(k) <= set(x), name + ": the reference keeps no array the binding lacks: %r" % sorted(set(k) - set(x)))
    vs_reference(name, x, k)
    # the residual spectrum the report draws beside the arrays (r["residual_eigenvalues"])
    got, want = np.array(r["residual_eigenvalues"]), np.array(out["residual_eigenvalues"])
    err = float(np.max(np.abs(got / want - 1))) if len(got) == len(want) and len(want) else 1.0
    check(err < 1e-3, "%s: residual spectrum (%d values) vs float64 reference: max relative error %.2g" % (name, len(got), err))
    return r


def extract(src, out):
    p = subprocess.run([VINDEX, "extract", src, "-o", out, "--features", "32", "--force"], capture_output=True, text=True)
    if p.returncode:
        raise SystemExit("extract %s: %s" % (src, p.stderr))
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="vx-cmparr-")
    try:
        vx = {n: extract(os.path.join(FIX, n), os.path.join(tmp, n)) for n in ("tiny-llama", "tiny-qwen3", "tiny-gemma3")}
        case("llama vs qwen3", vx["tiny-llama"], vx["tiny-qwen3"])
        case("qwen3 vs llama (B the source)", vx["tiny-qwen3"], vx["tiny-llama"], seed=7)
        case("gemma3 vs qwen3 (embed_scale)", vx["tiny-gemma3"], vx["tiny-qwen3"], anchors=600, test=300)
        a, b = os.path.join(tmp, "a-meta"), os.path.join(tmp, "b-meta")
        p = subprocess.run([MKPAIR, a, b, "--b-vocab", "meta", "--hidden-a", "64", "--hidden-b", "80", "--feats", "8",
                            "--vocab", "2048"], capture_output=True, text=True)
        if check(p.returncode == 0, "mkpair meta: %s" % p.stderr):
            case("Metaspace vs byte-level", a, b)
        a, b = os.path.join(tmp, "a-wide"), os.path.join(tmp, "b-wide")
        p = subprocess.run([MKPAIR, a, b, "--vocab", "9000", "--hidden-a", "640", "--hidden-b", "160", "--layers-a", "2",
                            "--layers-b", "2", "--feats", "16", "--noise", "0.3", "--seed", "5"], capture_output=True, text=True)
        if check(p.returncode == 0, "mkpair wide: %s" % p.stderr):
            # 8,400 of 9,000 tokens are neither anchors nor test tokens: on AVX-512 BF16 CPUs the
            # all-token pass screens them, and the arrays map them exactly after it
            case("wide pair, screened all-token pass", a, b, anchors=400, test=200)
            e = subprocess.run([VINDEX, "compare", a, b, "--json", "--anchors", "400", "--test", "200"],
                               capture_output=True, text=True, env=dict(os.environ, VINDEX_COMPARE_SCREEN="0"))
            r = vindex.compare(a, b, anchors=400, test=200, arrays=True)
            j, x = json.loads(e.stdout), r.arrays
            dev = max(abs(t["cosine"] - x["all_cos"][list(x["id_a"]).index(t["token_id"])]) for t in j["worst"] + j["best"])
            check(dev < 1e-6, "wide: the kept cosines of the unscreened pass's best/worst within %.2g" % dev)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
finish()
