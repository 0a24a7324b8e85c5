"""Loading libvindex and declaring its C interface for ctypes — the one place that knows
the C types. Every structure mirrors a public header (include/*.h) field for field;
tests/t_python.py compiles a C program from these declarations and checks each offset and
size against the compiler's, so a header change that is not mirrored here fails a test.

Why ctypes (not cffi): ctypes is in the standard library, so the package needs nothing
beyond numpy and no compiler at install time; Debian does package python3-cffi, but ABI
mode would add a dependency for no gain here (the calls are few and coarse, and ctypes
releases the GIL around every call into a CDLL, as cffi does).

Where the library comes from, first match wins:
  1. $VINDEX_LIB, a path to libvindex.so;
  2. the build tree, when this package is python/vindex inside the source tree
     ($VINDEX_BUILD, default "build", relative to the tree);
  3. the dynamic loader's search for libvindex.so.<SOVERSION> (LD_LIBRARY_PATH, ld.so.cache);
  4. the library directory recorded by `make install` (_install.py).
"""
import ctypes
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int, c_int64, c_size_t,
                    c_uint, c_uint16, c_uint32, c_uint64, c_void_p)

SOVERSION = "0"

# Error codes (vindex.h), pinned values.
VX_OK, VX_EIO, VX_ENOMEM, VX_EUSAGE, VX_ECORRUPT, VX_EUNSUPPORTED, VX_ENOTFOUND, VX_EEXIST, VX_EMISMATCH, \
    VX_EINTERRUPTED = 0, -1, -2, -3, -4, -5, -6, -7, -8, -9
VX_GATE, VX_DOWN = 0, 1
VX_MAT_GATE, VX_MAT_UP, VX_MAT_DOWN = 0, 1, 2
VX_TOKEN_TEXT = 1
VX_KINDS_GATE, VX_KINDS_DOWN, VX_KINDS_BOTH = 1, 2, 3
VX_CMP_TOP = 20


class vx_err(Structure):
    _c_name_ = "vx_err"
    _fields_ = [("code", c_int), ("msg", c_char * 1024)]


class vx_info(Structure):
    _c_name_ = "vx_info"
    _fields_ = [("num_layers", c_uint32), ("num_feats", c_uint32), ("hidden_size", c_uint32),
                ("vocab_size", c_uint32), ("intermediate_size", c_uint32), ("top_k", c_uint32),
                ("embed_scale", c_float), ("norm_offset", c_float), ("tied_embeddings", c_int),
                ("embed_clamped", c_uint64), ("model", c_char_p), ("model_type", c_char_p),
                ("architecture", c_char_p), ("dtype", c_char_p), ("path", c_char_p)]


class vx_progress(Structure):
    _c_name_ = "vx_progress"
    _fields_ = [("phase", c_char_p), ("layer", c_int), ("num_layers", c_int), ("done", c_uint64),
                ("total", c_uint64)]


PROGRESS_FN = CFUNCTYPE(None, c_void_p, POINTER(vx_progress))
MESSAGE_FN = CFUNCTYPE(None, c_void_p, c_char_p)


class vx_extract_opts(Structure):
    _c_name_ = "vx_extract_opts"
    _fields_ = [("src", c_char_p), ("revision", c_char_p), ("out", c_char_p), ("features", c_int),
                ("top_k", c_int), ("force", c_int), ("threads", c_int), ("progress", PROGRESS_FN),
                ("warn", MESSAGE_FN), ("ctx", c_void_p), ("interrupt", POINTER(c_int)), ("unembed", c_int),
                ("part", c_int), ("layer_first", c_uint), ("layer_last", c_uint)]


class vx_proj(Structure):
    _c_name_ = "vx_proj"
    _fields_ = [("token_id", c_uint32), ("value", c_float)]


class vx_query(Structure):
    _c_name_ = "vx_query"
    _fields_ = [("dim", c_uint32), ("vec", POINTER(c_float)), ("token_id", c_int64), ("pieces", POINTER(c_uint32)),
                ("n_pieces", c_size_t), ("is_feature", c_int), ("layer", c_uint32), ("feature", c_uint32),
                ("kind", c_int)]


class vx_feat_hit(Structure):
    _c_name_ = "vx_feat_hit"
    _fields_ = [("layer", c_uint32), ("feature", c_uint32), ("kind", c_int), ("cosine", c_float)]


class vx_tok_hit(Structure):
    _c_name_ = "vx_tok_hit"
    _fields_ = [("token_id", c_uint32), ("cosine", c_float)]


class vx_score_opts(Structure):
    _c_name_ = "vx_score_opts"
    _fields_ = [("top", c_size_t), ("layer_lo", c_uint32), ("layer_hi", c_uint32), ("kinds", c_uint),
                ("signed_rank", c_int)]


class vx_weight_stats(Structure):
    _c_name_ = "vx_weight_stats"
    _fields_ = [("rows", c_uint64), ("cols", c_uint64), ("fro", c_double), ("sparsity", c_double * 5)]


class vx_compare_opts(Structure):
    _c_name_ = "vx_compare_opts"
    _fields_ = [("anchor_ids", POINTER(c_uint32)), ("n_anchor_ids", c_size_t), ("test_ids", POINTER(c_uint32)),
                ("n_test_ids", c_size_t), ("anchors", c_size_t), ("test", c_size_t), ("seed", c_uint64),
                ("pca_sample", c_size_t), ("layer_map", POINTER(c_uint32 * 2)), ("n_layer_map", c_size_t),
                ("threads", c_int), ("no_mapfree", c_int), ("knn", c_size_t), ("knn_sample", c_size_t),
                ("save_map", c_char_p), ("keep_arrays", c_int)]


# vx_compare_result and its parts live in _compare.py (one place to extend).

QP = POINTER(vx_query)
VXP = c_void_p  # vx_index *: opaque


def _candidates():
    env = os.environ.get("VINDEX_LIB")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    if os.path.isfile(os.path.join(root, "include", "vindex.h")) and os.path.isdir(os.path.join(root, "src")):
        b = os.environ.get("VINDEX_BUILD", "build")
        yield os.path.join(b if os.path.isabs(b) else os.path.join(root, b), "libvindex.so")
    yield "libvindex.so." + SOVERSION
    try:
        from . import _install  # written by `make install`
        yield os.path.join(_install.LIBDIR, "libvindex.so." + SOVERSION)
    except ImportError:
        pass


def _mapped_path(lib, name):
    """The file the loader mapped for `lib` (a soname resolves through the search path)."""
    try:
        addr = ctypes.cast(lib.vx_strerror, ctypes.c_void_p).value
        for line in open("/proc/self/maps"):
            f = line.split()
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            if lo <= addr < hi and len(f) >= 6:
                return f[5]
    except (OSError, AttributeError, ValueError):
        pass
    return name


def _load():
    tried = []
    for c in _candidates():
        if os.sep in c and not os.path.exists(c):
            tried.append(c + " (absent)")
            continue
        try:
            lib = ctypes.CDLL(c)
        except OSError as e:
            tried.append(f"{c} ({e})")
            continue
        return lib, _mapped_path(lib, c)
    raise ImportError("vindex: cannot load libvindex: tried " + "; ".join(tried) +
                      ". Build it (make) or install it (make install), or set VINDEX_LIB")


lib, path = _load()


def _fn(name, restype, *argtypes, optional=False):
    """Declare lib.name. `optional` functions (added after this package's first release)
    are None when the loaded library lacks them."""
    try:
        f = getattr(lib, name)
    except AttributeError:
        if optional:
            return None
        raise ImportError(f"vindex: {path} lacks {name}(); it is older than this package")
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


E = POINTER(vx_err)
strerror = _fn("vx_strerror", c_char_p, c_int)
extract_opts_init = _fn("vx_extract_opts_init", None, POINTER(vx_extract_opts))
extract = _fn("vx_extract", c_int, POINTER(vx_extract_opts), E)
open_ = _fn("vx_open", c_int, POINTER(VXP), c_char_p, E)
close = _fn("vx_close", None, VXP)
get_info = _fn("vx_get_info", POINTER(vx_info), VXP)
manifest = _fn("vx_manifest", c_void_p, VXP, POINTER(c_size_t))
index_json = _fn("vx_index_json", c_void_p, VXP, POINTER(c_size_t))
file_map = _fn("vx_file_map", c_int, POINTER(c_void_p), POINTER(c_size_t), VXP, c_char_p, E)
advise = _fn("vx_advise", None, VXP, c_int)
revalidate = _fn("vx_revalidate", c_int, VXP, E)
features = _fn("vx_features", c_void_p, VXP, c_int)
embeddings = _fn("vx_embeddings", c_void_p, VXP)
sigma = _fn("vx_sigma", POINTER(c_float), VXP, c_int, c_uint32)
feature_proj = _fn("vx_feature_proj", c_int, POINTER(POINTER(vx_proj)), POINTER(POINTER(vx_proj)), VXP, c_uint32,
                   c_uint32, c_int, E)
token_str = _fn("vx_token_str", c_int, POINTER(c_void_p), POINTER(c_size_t), POINTER(c_void_p), POINTER(c_size_t),
                VXP, c_uint32, E)
verify = _fn("vx_verify", c_int, c_char_p, c_int, MESSAGE_FN, c_void_p, POINTER(c_int), E)

token_resolve = _fn("vx_token_resolve", c_int, POINTER(c_uint32), VXP, c_char_p, E)
query_token = _fn("vx_query_token", c_int, POINTER(QP), VXP, c_char_p, c_uint, E)
query_feature = _fn("vx_query_feature", c_int, POINTER(QP), VXP, c_uint32, c_uint32, c_int, E)
query_vector = _fn("vx_query_vector", c_int, POINTER(QP), VXP, POINTER(c_float), c_size_t, E)
query_free = _fn("vx_query_free", None, QP)
feature_parse = _fn("vx_feature_parse", c_int, POINTER(c_uint32), POINTER(c_uint32), POINTER(c_int), VXP, c_char_p, E)
score_opts_init = _fn("vx_score_opts_init", None, POINTER(vx_score_opts))
score = _fn("vx_score", c_int, POINTER(vx_feat_hit), POINTER(c_size_t), VXP, POINTER(QP), c_size_t,
            POINTER(vx_score_opts), E)
nearest_tokens = _fn("vx_nearest_tokens", c_int, POINTER(vx_tok_hit), POINTER(c_size_t), VXP, POINTER(QP), c_size_t,
                     c_size_t, E)

compare_opts_init = _fn("vx_compare_opts_init", None, POINTER(vx_compare_opts))
compare_read_tokens = _fn("vx_compare_read_tokens", c_int, POINTER(POINTER(c_uint32)), POINTER(c_size_t), VXP,
                          c_char_p, E)

# Format version 2 (spec §9): bound when the library has them.
format_version = _fn("vx_format_version", c_uint32, VXP, optional=True)
spectrum = _fn("vx_spectrum", POINTER(c_float), VXP, c_int, c_uint32, optional=True)
weight_stats_get = _fn("vx_weight_stats_get", c_int, POINTER(vx_weight_stats), VXP, c_uint32, c_int, E,
                       optional=True)
neuron_norms = _fn("vx_neuron_norms", POINTER(c_float), VXP, c_uint32, c_int, POINTER(c_uint64), optional=True)
moments = _fn("vx_moments", POINTER(c_float), VXP, optional=True)
unembedding = _fn("vx_unembedding", c_void_p, VXP, optional=True)
content_digest = _fn("vx_content_digest", c_int, POINTER(c_char), c_char_p, E, optional=True)

libc_free = ctypes.CDLL(None).free
libc_free.restype = None
libc_free.argtypes = [c_void_p]
