"""compare's result: the mirror of vx_compare_result (include/vx_compare.h) and its
conversion to the dictionary `vindex compare --json` prints (cli/cmd_compare.c), key for
key and number for number. This is the one place to extend when the result grows: add the
field to the structure below (tests/t_python.py checks every offset against the C
compiler's) and the key to result_dict (the same test compares it with the CLI's JSON).
"""
import ctypes
import math
import os
from ctypes import POINTER, Structure, byref, c_double, c_int, c_size_t, c_uint32, c_void_p

from . import _lib
from ._errors import UsageError, check
from ._lib import VX_CMP_TOP

VX_CMP_RESIDUAL = 200  # include/vx_compare.h
from ._results import CompareResult, jsonable


class vx_cmp_stats(Structure):
    _c_name_ = "vx_cmp_stats"
    _fields_ = [("mean", c_double), ("std", c_double), ("median", c_double), ("min", c_double), ("max", c_double),
                ("min_id", c_uint32), ("max_id", c_uint32), ("pct", c_double * 9), ("frac_above", c_double * 10)]


class vx_cmp_token(Structure):
    _c_name_ = "vx_cmp_token"
    _fields_ = [("id_a", c_uint32), ("id_b", c_uint32), ("cosine", c_double)]


class vx_cmp_mapfree(Structure):
    _c_name_ = "vx_cmp_mapfree"
    _fields_ = [("tokens", c_size_t), ("cka_linear", c_double), ("cka_debiased", c_double), ("svcca", c_double),
                ("svcca_dims_a", c_uint32), ("svcca_dims_b", c_uint32), ("procrustes_distance", c_double),
                ("procrustes_angular", c_double), ("mutual_knn", c_double), ("knn_k", c_uint32),
                ("knn_queries", c_size_t)]


class vx_cmp_simplices(Structure):
    _c_name_ = "vx_cmp_simplices"
    _fields_ = [("n", c_size_t), ("valid", c_size_t), ("native_mean", c_double), ("native_cv", c_double),
                ("aligned_mean", c_double), ("aligned_cv", c_double), ("volume_ratio", c_double),
                ("correlation", c_double)]


class vx_cmp_arrays(Structure):
    _c_name_ = "vx_cmp_arrays"
    _fields_ = [("n_test", c_size_t), ("test_id", POINTER(c_uint32)), ("test_cos", POINTER(c_double)),
                ("test_cos_centred", POINTER(c_double)), ("test_l2", POINTER(c_double)),
                ("baseline_cos", POINTER(c_double)), ("baseline_cos_centred", POINTER(c_double)),
                ("n_shared", c_size_t), ("id_a", POINTER(c_uint32)), ("id_b", POINTER(c_uint32)),
                ("all_cos", POINTER(c_double)), ("all_cos_centred", POINTER(c_double)), ("relational_n", c_size_t),
                ("relational_pairs", c_size_t), ("rel_target", POINTER(c_double)), ("rel_aligned", POINTER(c_double)),
                ("digits_n", c_size_t), ("digit_target", c_double * 100), ("digit_aligned", c_double * 100),
                ("n_simplices", c_size_t), ("vol_native", POINTER(c_double)), ("vol_aligned", POINTER(c_double))]


class vx_compare_result(Structure):
    _c_name_ = "vx_compare_result"
    _fields_ = [("shared", c_size_t), ("by_id", c_int), ("n_anchors", c_size_t), ("n_test", c_size_t),
                ("source_is_a", c_int), ("dim_source", c_uint32), ("dim_target", c_uint32), ("pca_dim", c_uint32),
                ("pca_fit_tokens", c_size_t), ("pca_variance_retained", c_double), ("procrustes_scale", c_double),
                ("cosine", vx_cmp_stats), ("l2_mean", c_double), ("l2_std", c_double), ("l2_median", c_double),
                ("frac_above_all", c_double * 10), ("relational_n", c_size_t), ("relational_correlation", c_double),
                ("relational_mean_abs_diff", c_double), ("digits_n", c_size_t), ("digit_id", c_uint32 * 10),
                ("digit_cosine", c_double * 10), ("digit_correlation", c_double), ("digit_mean_abs_diff", c_double),
                ("best", vx_cmp_token * VX_CMP_TOP), ("worst", vx_cmp_token * VX_CMP_TOP), ("n_best", c_size_t),
                ("residual_eig", c_double * VX_CMP_RESIDUAL), ("n_residual", c_size_t), ("baseline", vx_cmp_stats),
                ("baseline_l2_mean", c_double), ("simplices", vx_cmp_simplices), ("cosine_centred", vx_cmp_stats),
                ("relational_correlation_centred", c_double), ("relational_mean_abs_diff_centred", c_double),
                ("digit_correlation_centred", c_double), ("digit_mean_abs_diff_centred", c_double),
                ("best_centred", vx_cmp_token * VX_CMP_TOP), ("worst_centred", vx_cmp_token * VX_CMP_TOP),
                ("residual_eig_centred", c_double * VX_CMP_TOP), ("n_residual_centred", c_size_t),
                ("baseline_centred", vx_cmp_stats), ("layers_a", c_uint32), ("layers_b", c_uint32), ("gate_sim", POINTER(c_double)),
                ("down_sim", POINTER(c_double)), ("matched", POINTER(c_uint32 * 2)), ("n_matched", c_size_t),
                ("mapfree", vx_cmp_mapfree), ("arrays", POINTER(vx_cmp_arrays))]


STRUCTS = (vx_cmp_stats, vx_cmp_token, vx_cmp_simplices, vx_cmp_mapfree, vx_cmp_arrays, vx_compare_result)


def arrays_dict(x):
    """vx_cmp_arrays as numpy arrays (copies; spec/compare.md §11)."""
    import numpy as np

    def a(p, n, dt=np.float64):
        return np.ctypeslib.as_array(p, shape=(n,)).astype(dt, copy=True) if n else np.zeros(0, dt)
    nt, N, npairs, S, nd = x.n_test, x.n_shared, x.relational_pairs, x.n_simplices, x.digits_n
    return {"test_id": a(x.test_id, nt, np.uint32), "test_cos": a(x.test_cos, nt),
            "test_cos_centred": a(x.test_cos_centred, nt), "test_l2": a(x.test_l2, nt),
            "baseline_cos": a(x.baseline_cos, nt), "baseline_cos_centred": a(x.baseline_cos_centred, nt),
            "id_a": a(x.id_a, N, np.uint32), "id_b": a(x.id_b, N, np.uint32), "all_cos": a(x.all_cos, N),
            "all_cos_centred": a(x.all_cos_centred, N), "relational_n": x.relational_n,
            "rel_target": a(x.rel_target, npairs), "rel_aligned": a(x.rel_aligned, npairs),
            "digit_target": np.array(x.digit_target[:]).reshape(10, 10)[:nd, :nd].copy(),
            "digit_aligned": np.array(x.digit_aligned[:]).reshape(10, 10)[:nd, :nd].copy(),
            "vol_native": a(x.vol_native, S), "vol_aligned": a(x.vol_aligned, S)}
_PCT = ("p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99")


def _num(x):
    """A number as the CLI's JSON shows it: NaN and infinities are null."""
    return x if math.isfinite(x) else None


def _stats(st, text):
    d = {"mean": st.mean, "std": st.std, "median": st.median, "min": st.min, "min_token": text(st.min_id),
         "min_token_id": st.min_id, "max": st.max, "max_token": text(st.max_id), "max_token_id": st.max_id}
    for k, v in zip(_PCT, st.pct):
        d[k] = v
    return d


def _frac(f):
    return {f"0.{k}": f[k] for k in range(10)}


def _tokens(ts, n, text):
    return [{"token": text(t.id_a), "token_id": t.id_a, "token_id_b": t.id_b, "cosine": t.cosine} for t in ts[:n]]


def result_dict(r, text, a, b, seed):
    """The CLI's JSON object for result `r`. `text(id)` is A's readable token text; `a`, `b`
    the two paths as given; `seed` the seed used."""
    la, lb = r.layers_a, r.layers_b
    gate = [r.gate_sim[i] for i in range(la * lb)]
    down = [r.down_sim[i] for i in range(la * lb)]
    d = {"a": a, "b": b, "shared_tokens": r.shared, "match": "id" if r.by_id else "text", "anchors": r.n_anchors,
         "test": r.n_test, "seed": seed, "source": "A" if r.source_is_a else "B",
         "target": "B" if r.source_is_a else "A", "dim_source": r.dim_source, "dim_target": r.dim_target,
         "pca_dim": r.pca_dim, "pca_fit_tokens": r.pca_fit_tokens, "pca_variance_retained": r.pca_variance_retained,
         "procrustes_scale": r.procrustes_scale, "cosine": _stats(r.cosine, text),
         "l2": {"mean": r.l2_mean, "std": r.l2_std, "median": r.l2_median}, "frac_above": _frac(r.frac_above_all),
         "frac_above_heldout": _frac(r.cosine.frac_above), "relational_tokens": r.relational_n,
         "relational_correlation": _num(r.relational_correlation),
         "relational_mean_abs_diff": _num(r.relational_mean_abs_diff), "digits": r.digits_n,
         "digit_correlation": _num(r.digit_correlation), "digit_mean_abs_diff": _num(r.digit_mean_abs_diff),
         "digit_cosines": [{"token": text(r.digit_id[i]), "token_id": r.digit_id[i], "cosine": r.digit_cosine[i]}
                           for i in range(r.digits_n)],
         "best": _tokens(r.best, r.n_best, text), "worst": _tokens(r.worst, r.n_best, text),
         "residual_eigenvalues": [r.residual_eig[i] for i in range(r.n_residual)]}
    sx = r.simplices
    d["pentachoron"] = {"simplices": sx.n, "valid": sx.valid, "native_mean": _num(sx.native_mean),
                        "native_cv": _num(sx.native_cv), "aligned_mean": _num(sx.aligned_mean),
                        "aligned_cv": _num(sx.aligned_cv), "volume_ratio": _num(sx.volume_ratio),
                        "correlation": _num(sx.correlation)}
    bl = _stats(r.baseline, text)
    bl["frac_above"] = _frac(r.baseline.frac_above)
    bl["l2_mean"] = r.baseline_l2_mean
    d["baseline"] = bl
    d["cosine_centred"] = _stats(r.cosine_centred, text)
    d["frac_above_centred"] = _frac(r.cosine_centred.frac_above)
    d["relational_correlation_centred"] = _num(r.relational_correlation_centred)
    d["relational_mean_abs_diff_centred"] = _num(r.relational_mean_abs_diff_centred)
    d["digit_correlation_centred"] = _num(r.digit_correlation_centred)
    d["digit_mean_abs_diff_centred"] = _num(r.digit_mean_abs_diff_centred)
    d["best_centred"] = _tokens(r.best_centred, r.n_best, text)
    d["worst_centred"] = _tokens(r.worst_centred, r.n_best, text)
    d["residual_eigenvalues_centred"] = [r.residual_eig_centred[i] for i in range(r.n_residual_centred)]
    bc = _stats(r.baseline_centred, text)
    bc["frac_above"] = _frac(r.baseline_centred.frac_above)
    bc["l2_mean"] = r.baseline_l2_mean
    d["baseline_centred"] = bc
    matched = []
    for i in range(r.n_matched):
        x, y = r.matched[i][0], r.matched[i][1]
        matched.append({"a": x, "b": y, "gate": gate[x * lb + y], "down": down[x * lb + y]})
    d["layers"] = {"layers_a": la, "layers_b": lb, "gate": [gate[i * lb:(i + 1) * lb] for i in range(la)],
                   "down": [down[i * lb:(i + 1) * lb] for i in range(la)], "matched": matched}
    mf = r.mapfree
    if mf.tokens:  # spec/compare.md §10
        d["map_free"] = {"tokens": mf.tokens, "cka_linear": _num(mf.cka_linear), "cka_debiased": _num(mf.cka_debiased),
                         "svcca": _num(mf.svcca), "svcca_dims_a": mf.svcca_dims_a, "svcca_dims_b": mf.svcca_dims_b,
                         "procrustes_distance": _num(mf.procrustes_distance),
                         "procrustes_angular": _num(mf.procrustes_angular), "mutual_knn": mf.mutual_knn,
                         "knn_k": mf.knn_k, "knn_queries": mf.knn_queries}
    return d


# ---------------------------------------------------------------------- the call

_compare = _lib._fn("vx_compare", c_int, POINTER(POINTER(vx_compare_result)), c_void_p, c_void_p,
                    POINTER(_lib.vx_compare_opts), _lib.E)
_free = _lib._fn("vx_compare_free", None, POINTER(vx_compare_result))


def _int(name, v, lo, hi):
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise UsageError(f"{name} {v!r}: expected an integer in {lo}..{hi}", _lib.VX_EUSAGE)
    return v


def _token_list(vx, h, name, spec, keep):
    """Explicit anchor/test tokens: a path to a token file (vindex compare's FILE: one token
    a line, #ID, raw or readable) or a sequence of ids (int) and tokens (str, resolved like
    Vindex.token_id). Returns (pointer, count); `keep` holds what must outlive the call."""
    from ._index import _enc, _err
    if isinstance(spec, (str, bytes, os.PathLike)):
        ids, n, err = POINTER(c_uint32)(), c_size_t(), _err()
        check(_lib.compare_read_tokens(byref(ids), byref(n), h.ptr, _enc(spec), byref(err)), err)
        keep.append(ids)
        return ids, n.value
    vals = [vx.token_id(t) for t in spec]
    if not vals:
        raise UsageError(f"{name}: empty token list", _lib.VX_EUSAGE)
    arr = (c_uint32 * len(vals))(*vals)
    keep.append(arr)
    return ctypes.cast(arr, POINTER(c_uint32)), len(vals)


def compare(a, b, *, anchors=None, test=None, seed=42, pca_sample=None, layer_map=None, threads=None, map_free=True,
            knn=None, knn_sample=None, save_map=None, arrays=False):
    """Align the embedding spaces of vindexes `a` and `b` (paths or open Vindex objects) by
    orthogonal Procrustes on their shared tokens (vindex compare; spec/compare.md).

    anchors, test: a count drawn at random from the shared tokens (defaults 10000 and
      5000), a path to a token file, or a sequence of tokens (ids of A or strings);
    seed: of every random choice (42); pca_sample: PCA fitted on at most this many tokens;
    layer_map: [(layer of A, layer of B), ...] to mark as matched; threads: BLAS threads;
    map_free: the map-free similarity (§10; False = --no-map-free), knn: its k, knn_sample:
    its query tokens (an int or "all"); save_map: write the fitted map to this path;
    arrays: also keep the per-token values behind the statistics (spec/compare.md §11) as
    numpy arrays in the result's `arrays` attribute (not part of the dict).
    Returns a CompareResult: the dict `vindex compare --json` prints. Raises MismatchError
    (too few shared tokens), UsageError (options), NotFoundError (a token not in A)."""
    from ._index import Vindex, _err, blas_lock
    owned = []
    va = a if isinstance(a, Vindex) else Vindex(a)
    if va is not a:
        owned.append(va)
    vb = b if isinstance(b, Vindex) else Vindex(b)
    if vb is not b:
        owned.append(vb)
    keep = []
    try:
        ha, hb = va._live(), vb._live()
        o = _lib.vx_compare_opts()
        _lib.compare_opts_init(byref(o))
        if isinstance(anchors, int) and not isinstance(anchors, bool):
            o.anchors = _int("anchors", anchors, 3, 100000000)
        elif anchors is not None:
            o.anchor_ids, o.n_anchor_ids = _token_list(va, ha, "anchors", anchors, keep)
        if isinstance(test, int) and not isinstance(test, bool):
            o.test = _int("test", test, 3, 100000000)
        elif test is not None:
            o.test_ids, o.n_test_ids = _token_list(va, ha, "test", test, keep)
        o.seed = _int("seed", seed, 0, 2 ** 64 - 1)
        if pca_sample is not None:
            o.pca_sample = _int("pca_sample", pca_sample, 1, 100000000)
        if layer_map is not None:
            pairs = [(_int("layer_map", int(x), 0, 2 ** 32 - 1), _int("layer_map", int(y), 0, 2 ** 32 - 1))
                     for x, y in layer_map]
            if not pairs:
                raise UsageError("layer_map: no pairs", _lib.VX_EUSAGE)
            lm = ((c_uint32 * 2) * len(pairs))(*[(c_uint32 * 2)(x, y) for x, y in pairs])
            keep.append(lm)
            o.layer_map, o.n_layer_map = ctypes.cast(lm, POINTER(c_uint32 * 2)), len(pairs)
        if threads is not None:
            o.threads = _int("threads", threads, 1, 256)
        o.no_mapfree = 0 if map_free else 1
        if knn is not None:
            o.knn = _int("knn", knn, 1, 10000)
        if knn_sample is not None:
            o.knn_sample = 2 ** 64 - 1 if knn_sample == "all" else _int("knn_sample", knn_sample, 1, 100000000)
        if save_map is not None:
            from ._index import _enc
            o.save_map = _enc(save_map)
        o.keep_arrays = 1 if arrays else 0
        r, err = POINTER(vx_compare_result)(), _err()
        with blas_lock:
            rc = _compare(byref(r), ha.ptr, hb.ptr, byref(o), byref(err))
        check(rc, err)
        try:
            d = result_dict(r.contents, lambda i: va._tok(ha, i)[1], va.path, vb.path, o.seed)
            kept = arrays_dict(r.contents.arrays.contents) if r.contents.arrays else None
        finally:
            _free(r)
        res = CompareResult(jsonable(d))
        if arrays:
            res.__dict__["arrays"] = kept
        return res
    finally:
        for ids in keep:
            if isinstance(ids, POINTER(c_uint32)):  # malloc'd by vx_compare_read_tokens
                _lib.libc_free(ids)
        for v in owned:
            v.close()
