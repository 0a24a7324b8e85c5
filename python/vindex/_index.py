"""Vindex: an open vindex, its arrays as zero-copy numpy views of the maps, and the
queries of spec/queries.md answered in process.

Lifetime. One _Handle owns the library's vx_index; vx_close runs when the last reference
to it goes. The Vindex holds one, and so does every view (numpy keeps a view's base, a
_Region, alive, and the _Region holds the handle). close() therefore drops only the
Vindex's reference: the maps are unmapped at once when no view is alive, and otherwise
when the last view is collected — a view can never point at unmapped memory (the
"deferred unmap" choice; views that raised after close would need a check on every
element access, which numpy cannot make). A query running on another thread holds the
handle too, so closing during a query is safe as well.
"""
import ctypes
import json
import os
import threading
import weakref
from ctypes import byref, c_int, c_size_t, c_uint32, c_uint64, c_void_p

import numpy as np

from . import _lib
from ._errors import ClosedError, Error, NotFoundError, UnsupportedError, UsageError, check
from ._results import DescribeResult, FeatureHit, NearestResult, Projection, Query, ScoreResult, TokenHit, \
    VerifyResult, WeightStats

KINDS = ("gate", "down")
_KIND_BITS = {"gate": _lib.VX_KINDS_GATE, "down": _lib.VX_KINDS_DOWN, "both": _lib.VX_KINDS_BOTH}
_MATS = {"gate": _lib.VX_MAT_GATE, "up": _lib.VX_MAT_UP, "down": _lib.VX_MAT_DOWN}

# OpenBLAS's thread count is process-wide and compare/extract change it while they run
# (vx_compare.h), so they, and batched queries (which call sgemm), take this lock; single
# queries run the library's own kernels and need none.
blas_lock = threading.RLock()


def _err():
    return _lib.vx_err()


def _enc(s):
    """A str or bytes or path argument as the bytes the library takes."""
    if isinstance(s, bytes):
        return s
    if isinstance(s, os.PathLike):
        return os.fsencode(s)
    if isinstance(s, str):
        return s.encode("utf-8", "surrogateescape")
    raise TypeError(f"expected str, bytes or a path, got {type(s).__name__}")


def _dec(p, n):
    """n bytes at address p as str (bytes that are not UTF-8 kept as surrogate escapes,
    so encoding with "surrogateescape" gives back the vocabulary's exact bytes)."""
    return ctypes.string_at(p, n).decode("utf-8", "surrogateescape") if n else ""


def _kind_index(kind):
    if kind in (0, 1):
        return int(kind)
    try:
        return KINDS.index(kind)
    except ValueError:
        raise UsageError(f"kind {kind!r}: expected 'gate' or 'down'", _lib.VX_EUSAGE) from None


def _count(name, v, lo, hi):
    """An integer option within [lo, hi], as the CLI accepts it; UsageError otherwise."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
        raise UsageError(f"{name} {v!r}: expected an integer in {lo}..{hi}", _lib.VX_EUSAGE)
    return int(v)


class _Handle:
    """Owns one vx_index *; vx_close runs when the last reference is gone."""
    __slots__ = ("ptr", "__weakref__")

    def __init__(self, ptr):
        self.ptr = ptr
        weakref.finalize(self, _lib.close, ptr)


class _Region:
    """A span of a map exposed to numpy (read-only) and the handle that keeps it mapped."""
    __slots__ = ("__array_interface__", "handle")

    def __init__(self, handle, addr, nbytes):
        self.handle = handle
        self.__array_interface__ = {"version": 3, "shape": (nbytes,), "typestr": "|u1", "data": (addr, True)}


def _view(handle, addr, nbytes, dtype, shape):
    """A read-only numpy array of `shape` and `dtype` over nbytes at `addr` in a map of
    `handle`, without copying."""
    dtype = np.dtype(dtype)
    if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != nbytes:
        raise AssertionError(f"view of {nbytes} bytes as {shape} {dtype}")
    if nbytes == 0 or not addr:
        a = np.empty(shape, dtype)
    else:
        a = np.asarray(_Region(handle, addr, nbytes)).view(dtype).reshape(shape)
    a.flags.writeable = False
    return a


class Feature(tuple):
    """A feature direction: (layer, feature, kind) with kind "gate" or "down". Accepted
    wherever a feature is, beside the CLI's "L:F[:gate|down]" strings and plain tuples."""
    __slots__ = ()

    def __new__(cls, layer, feature, kind="gate"):
        return tuple.__new__(cls, (int(layer), int(feature), KINDS[_kind_index(kind)]))

    @property
    def layer(self):
        return self[0]

    @property
    def feature(self):
        return self[1]

    @property
    def kind(self):
        return self[2]

    def __repr__(self):
        return f"Feature({self[0]}, {self[1]}, {self[2]!r})"


class Vindex:
    """An open vindex. Make one with vindex.open(path); use it as a context manager or
    call close().

    Arrays (zero-copy, read-only numpy views of the maps; see close() for their lifetime):
      gate, down       [L, F, H] float16 feature directions (features(kind) likewise)
      embeddings       [V, H] float16, unscaled (multiply by info["embed_scale"])
      down_meta        [L, 2, F, 2K] records (token_id uint32, value float32)
      norms            {name: float32 vector} from norms.bin, names as in index.json
      file(name)       any mapped file's bytes, uint8
      version 2 (None or an error on a version-1 vindex): spectra [L, 2, H] float32,
      moments [L, 2, F, 4] float32, unembedding [V, H] float16, neuron_norms(layer, m)
    Metadata: info (index.json as a dict), manifest (dict or None), sigmas [L, 2, F]
    float32 (a copy), num_layers, num_feats, hidden_size, vocab_size, top_k, path.
    Tokens: token_id(arg), token(id) (raw), token_text(id) (readable).
    Queries: score, nearest, describe, verify; module functions compare and extract.

    Every method may be called from several threads at once (the library's vx_index is
    read-only); compare, extract and batched queries serialise on OpenBLAS.
    """

    def __init__(self, path):
        """Open the vindex in directory `path` (vx_open: index.json parsed, every file's size
        checked against it, then mapped read-only). Raises NotFoundError, CorruptError,
        UnsupportedError, SystemCallError, OutOfMemoryError."""
        self._handle = None
        self._views = {}
        self._tok_cache = {}
        self._lock = threading.Lock()
        ptr = c_void_p()
        err = _err()
        check(_lib.open_(byref(ptr), _enc(path), byref(err)), err)
        self._handle = _Handle(ptr.value)
        self.path = os.fspath(path) if not isinstance(path, bytes) else os.fsdecode(path)
        inf = _lib.get_info(ptr.value).contents
        self.num_layers, self.num_feats, self.hidden_size = inf.num_layers, inf.num_feats, inf.hidden_size
        self.vocab_size, self.top_k = inf.vocab_size, inf.top_k
        n = c_size_t()
        p = _lib.index_json(ptr.value, byref(n))
        if not p:
            raise MemoryError("vindex: out of memory copying index.json")
        self.info = json.loads(ctypes.string_at(p, n.value))
        p = _lib.manifest(ptr.value, byref(n))
        try:
            self.manifest = json.loads(ctypes.string_at(p, n.value)) if p else None
        except ValueError:
            self.manifest = None  # provenance is verify's to judge

    # ------------------------------------------------------------------ lifetime

    def _live(self):
        h = self._handle
        if h is None:
            raise ClosedError(f"{self.path}: this Vindex is closed", _lib.VX_EUSAGE)
        return h

    def close(self):
        """Close the vindex. Queries and new views then raise ClosedError. Views made before
        stay valid: the files are unmapped as soon as no view of them is alive (at once
        when there is none). Closing twice is allowed."""
        with self._lock:
            self._views.clear()
            self._handle = None

    @property
    def closed(self):
        """True after close()."""
        return self._handle is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self.closed else f"L={self.num_layers} F={self.num_feats} H={self.hidden_size} " \
                                             f"V={self.vocab_size}"
        return f"<vindex.Vindex {self.path!r} {state}>"

    def advise(self, pattern):
        """Set the access pattern: "keep" (default; pages a query reads stay mapped for the
        next) or "once" (full scans drop the pages they read from the resident set)."""
        modes = {"keep": 0, "once": 1}
        if pattern not in modes:
            raise UsageError(f"advise {pattern!r}: expected 'keep' or 'once'", _lib.VX_EUSAGE)
        _lib.advise(self._live().ptr, modes[pattern])

    def revalidate(self):
        """Check that no mapped file changed size since open (a file truncated in place
        would make touching its pages raise SIGBUS). Raises CorruptError naming the file."""
        err = _err()
        check(_lib.revalidate(self._live().ptr, byref(err)), err)

    # ------------------------------------------------------------------ arrays

    def _cached(self, key, make):
        with self._lock:
            v = self._views.get(key)
        if v is None:
            h = self._live()
            v = make(h)
            with self._lock:
                if self._handle is h:
                    self._views.setdefault(key, v)
        return v

    def file(self, name):
        """The bytes of mapped file `name` ("norms.bin", "down_meta.bin", ...) as a read-only
        uint8 view. Raises NotFoundError for a file this vindex does not map."""
        def make(h):
            p, n, err = c_void_p(), c_size_t(), _err()
            check(_lib.file_map(byref(p), byref(n), h.ptr, _enc(name), byref(err)), err)
            return _view(h, p.value, n.value, np.uint8, (n.value,))
        return self._cached(("file", name), make)

    def features(self, kind):
        """Feature directions of `kind` ("gate" or "down"): [L, F, H] float16 view."""
        k = _kind_index(kind)
        L, F, H = self.num_layers, self.num_feats, self.hidden_size

        def make(h):
            return _view(h, _lib.features(h.ptr, k), L * F * H * 2, np.float16, (L, F, H))
        return self._cached(("features", k), make)

    @property
    def gate(self):
        """gate_vectors.bin: [L, F, H] float16, row f of layer l the f-th right singular
        vector of the layer's MLP input matrix (unit length, spec §3)."""
        return self.features("gate")

    @property
    def down(self):
        """down_features.bin: [L, F, H] float16, the left singular vectors of the MLP output
        matrix."""
        return self.features("down")

    @property
    def embeddings(self):
        """embeddings.bin: [V, H] float16, unscaled token embeddings."""
        V, H = self.vocab_size, self.hidden_size
        return self._cached("emb", lambda h: _view(h, _lib.embeddings(h.ptr), V * H * 2, np.float16, (V, H)))

    @property
    def down_meta(self):
        """down_meta.bin's records: [L, 2, F, 2K] structured (token_id uint32, value float32);
        [l, kind, f, :K] the K largest projections descending, [l, kind, f, K:] the K smallest
        ascending (spec §4)."""
        L, F, K = self.num_layers, self.num_feats, self.top_k
        dt = np.dtype([("token_id", "<u4"), ("value", "<f4")])

        def make(h):
            raw = self.file("down_meta.bin")
            return raw[32:].view(dt).reshape(L, 2, F, 2 * K)
        return self._cached("down_meta", make)

    @property
    def norms(self):
        """norms.bin by name ("layers.3.input_layernorm", "norm", ...): a dict of float32
        views, each the effective multiplier (Gemma's 1 + w applied; biases as stored)."""
        def make(h):
            raw = self.file("norms.bin")
            out = {}
            for e in self.info.get("norms", []):
                off, cnt = int(e["offset"]), int(e["count"])
                if off % 4 or off + 4 * cnt > raw.size:
                    raise AssertionError(f"norm {e['name']}: outside norms.bin")
                out[e["name"]] = raw[off:off + 4 * cnt].view("<f4")
            return out
        return dict(self._cached("norms", make))

    @property
    def sigmas(self):
        """Singular values of every layer and kind: [L, 2, F] float32 (a copy; index.json)."""
        h = self._live()
        out = np.empty((self.num_layers, 2, self.num_feats), np.float32)
        for l in range(self.num_layers):
            for k in (0, 1):
                p = _lib.sigma(h.ptr, k, l)
                out[l, k] = np.ctypeslib.as_array(p, (self.num_feats,))
        return out

    # -------------------------------------------------------------- version 2

    def _need(self, fn, what):
        if fn is None:
            raise UnsupportedError(f"{what}: the loaded libvindex ({_lib.path}) does not implement format "
                                   "version 2 yet", _lib.VX_EUNSUPPORTED)

    @property
    def format_version(self):
        """index.json "version": 1 or 2."""
        if _lib.format_version is None:
            return int(self.info.get("version", 1))
        return int(_lib.format_version(self._live().ptr))

    @property
    def spectra(self):
        """spectra.bin (version 2, spec §9 R-B1): [L, 2, H] float32 full singular spectra,
        descending; None when the vindex has none."""
        self._need(_lib.spectrum, "spectra")
        L, H = self.num_layers, self.hidden_size

        def make(h):
            p0 = ctypes.cast(_lib.spectrum(h.ptr, 0, 0), c_void_p).value
            if not p0:
                return False
            last = ctypes.cast(_lib.spectrum(h.ptr, 1, L - 1), c_void_p).value
            if last != p0 + ((L - 1) * 2 + 1) * H * 4:
                raise AssertionError("spectra.bin is not one [L][2][H] array")
            return _view(h, p0, L * 2 * H * 4, np.float32, (L, 2, H))
        v = self._cached("spectra", make)
        return v if v is not False else None

    @property
    def moments(self):
        """moments.bin (version 2, R-B4): [L, 2, F, 4] float32 {mean, std, skew, excess
        kurtosis} of each direction's vocabulary projection; None when absent."""
        self._need(_lib.moments, "moments")
        L, F = self.num_layers, self.num_feats

        def make(h):
            p = ctypes.cast(_lib.moments(h.ptr), c_void_p).value
            return _view(h, p, L * 2 * F * 16, np.float32, (L, 2, F, 4)) if p else False
        v = self._cached("moments", make)
        return v if v is not False else None

    @property
    def unembedding(self):
        """The unembedding [V, H] float16 (version 2, R-B5): unembed.bin when kept, the
        embeddings (the same memory) when tied; None when untied and not kept."""
        self._need(_lib.unembedding, "unembedding")
        V, H = self.vocab_size, self.hidden_size

        def make(h):
            p = _lib.unembedding(h.ptr)
            return _view(h, p, V * H * 2, np.float16, (V, H)) if p else False
        v = self._cached("unembedding", make)
        return v if v is not False else None

    def neuron_norms(self, layer, matrix):
        """Per-neuron norms of `matrix` ("gate", "up" or "down") of `layer` (version 2,
        R-B2): a float32 view; None when the vindex has none or the MLP has no such matrix."""
        self._need(_lib.neuron_norms, "neuron_norms")
        if matrix not in _MATS:
            raise UsageError(f"matrix {matrix!r}: expected 'gate', 'up' or 'down'", _lib.VX_EUSAGE)
        layer = _count("layer", layer, 0, self.num_layers - 1)

        def make(h):
            n = c_uint64()
            p = ctypes.cast(_lib.neuron_norms(h.ptr, layer, _MATS[matrix], byref(n)), c_void_p).value
            return _view(h, p, n.value * 4, np.float32, (n.value,)) if p else False
        v = self._cached(("neurons", layer, matrix), make)
        return v if v is not False else None

    def weight_stats(self, layer, matrix):
        """Whole-matrix statistics of `matrix` ("gate", "up", "down") of `layer` (version 2,
        R-B3) as a WeightStats. Raises NotFoundError when absent."""
        self._need(_lib.weight_stats_get, "weight_stats")
        if matrix not in _MATS:
            raise UsageError(f"matrix {matrix!r}: expected 'gate', 'up' or 'down'", _lib.VX_EUSAGE)
        layer = _count("layer", layer, 0, self.num_layers - 1)
        ws, err = _lib.vx_weight_stats(), _err()
        check(_lib.weight_stats_get(byref(ws), self._live().ptr, layer, _MATS[matrix], byref(err)), err)
        return WeightStats(ws.rows, ws.cols, ws.fro, tuple(ws.sparsity))

    @property
    def content_digest(self):
        """The content digest (R-B6): SHA-256 over SHA256SUMS's lines but manifest.json's,
        64 hex digits."""
        return content_digest(self.path)

    # ------------------------------------------------------------------ tokens

    def _tok(self, h, i):
        """(raw, text) strings of token i."""
        t = self._tok_cache.get(i)
        if t is None:
            rp, rn, tp, tn, err = c_void_p(), c_size_t(), c_void_p(), c_size_t(), _err()
            check(_lib.token_str(byref(rp), byref(rn), byref(tp), byref(tn), h.ptr, i, byref(err)), err)
            t = (_dec(rp.value, rn.value), _dec(tp.value, tn.value))
            if len(self._tok_cache) < 1 << 16:
                self._tok_cache[i] = t
        return t

    def token(self, token_id):
        """The raw vocabulary string of `token_id` ("ĠParis"). Raises NotFoundError."""
        token_id = int(token_id)
        if not 0 <= token_id < self.vocab_size:
            raise NotFoundError(f"token #{token_id}: out of range (vocab_size {self.vocab_size})",
                                _lib.VX_ENOTFOUND)
        return self._tok(self._live(), token_id)[0]

    def token_text(self, token_id):
        """The readable UTF-8 text of `token_id` (" Paris"). Raises NotFoundError."""
        token_id = int(token_id)
        if not 0 <= token_id < self.vocab_size:
            raise NotFoundError(f"token #{token_id}: out of range (vocab_size {self.vocab_size})",
                                _lib.VX_ENOTFOUND)
        return self._tok(self._live(), token_id)[1]

    def token_id(self, token):
        """The id of one token: an int (checked), "#123", a raw vocabulary string ("ĠParis")
        or readable text (" Paris"), resolved as the CLI does (spec/queries.md §1). Raises
        NotFoundError (the message lists the tokenizer's pieces of a multi-token word) or
        UsageError (empty)."""
        if isinstance(token, (int, np.integer)) and not isinstance(token, bool):
            return self._check_id(int(token))
        out, err = c_uint32(), _err()
        check(_lib.token_resolve(byref(out), self._live().ptr, _enc(token), byref(err)), err)
        return out.value

    def _check_id(self, i):
        if not 0 <= i < self.vocab_size:
            raise NotFoundError(f"token #{i}: out of range (vocab_size {self.vocab_size})", _lib.VX_ENOTFOUND)
        return i

    # ------------------------------------------------------------------ queries

    def _feature(self, h, spec):
        """(layer, feature, kind index) of a feature spec: "L:F[:gate|down]", a Feature or
        a (layer, feature[, kind]) tuple."""
        if isinstance(spec, (str, bytes)):
            l, f, k, err = c_uint32(), c_uint32(), c_int(), _err()
            check(_lib.feature_parse(byref(l), byref(f), byref(k), h.ptr, _enc(spec), byref(err)), err)
            return l.value, f.value, k.value
        if isinstance(spec, tuple) and len(spec) in (2, 3):
            l, f = _count("layer", spec[0], 0, 2 ** 32 - 1), _count("feature", spec[1], 0, 2 ** 32 - 1)
            k = _kind_index(spec[2] if len(spec) == 3 else "gate")
            if l >= self.num_layers or f >= self.num_feats:
                raise NotFoundError(f"feature {l}:{f}: out of range ({self.num_layers} layers, "
                                    f"{self.num_feats} features)", _lib.VX_ENOTFOUND)
            return l, f, k
        raise TypeError(f"a feature is 'L:F[:gate|down]', a Feature or a tuple, not {type(spec).__name__}")

    def _make_queries(self, h, query, text, feature=None):
        """Build vx_query objects. Returns (list of vx_query pointers, list of Query, batch,
        list of the arguments as given)."""
        flags = _lib.VX_TOKEN_TEXT if text else 0
        if feature is not None:
            items, batch = [("feature", feature)], False
        elif isinstance(query, np.ndarray) and query.dtype.kind == "f":
            if query.ndim == 1:
                items, batch = [("vector", query)], False
            elif query.ndim == 2:
                items, batch = [("vector", r) for r in query], True
            else:
                raise UsageError(f"a vector query is (H,) or (n, H), not {query.shape}", _lib.VX_EUSAGE)
        elif isinstance(query, (list, tuple, np.ndarray)) and not isinstance(query, Feature):
            items, batch = [("token", q) for q in query], True
        elif isinstance(query, Feature):
            items, batch = [("feature", query)], False
        else:
            items, batch = [("token", query)], False
        if batch and not items:
            raise UsageError("no queries", _lib.VX_EUSAGE)
        qs, descs, args = [], [], []
        try:
            for what, arg in items:
                q, err = _lib.QP(), _err()
                if what == "feature":
                    l, f, k = self._feature(h, arg)
                    rc = _lib.query_feature(byref(q), h.ptr, l, f, k, byref(err))
                    a = f"{l}:{f}:{KINDS[k]}"
                elif what == "vector":
                    v = np.ascontiguousarray(arg, dtype=np.float32)
                    rc = _lib.query_vector(byref(q), h.ptr, v.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                           v.size, byref(err))
                    a = None
                else:
                    if isinstance(arg, (int, np.integer)) and not isinstance(arg, bool):
                        if arg < 0:
                            raise NotFoundError(f"token #{arg}: out of range (vocab_size {self.vocab_size})",
                                                _lib.VX_ENOTFOUND)
                        a = f"#{int(arg)}"
                    elif isinstance(arg, (str, bytes)):
                        a = arg if isinstance(arg, str) else arg.decode("utf-8", "surrogateescape")
                    else:
                        raise TypeError(f"a token is a str or an int, not {type(arg).__name__}")
                    rc = _lib.query_token(byref(q), h.ptr, _enc(a), flags, byref(err))
                if rc:
                    check(rc, err)
                qs.append(q)
                args.append(a)
                descs.append(self._describe_query(h, q.contents, a))
        except BaseException:
            for q in qs:
                _lib.query_free(q)
            raise
        return qs, descs, batch, args

    def _describe_query(self, h, q, arg):
        if q.is_feature:
            return Query(feature=(q.layer, q.feature, KINDS[q.kind]))
        if q.token_id >= 0:
            return Query(token=self._tok(h, q.token_id)[0], token_id=q.token_id)
        if q.pieces:
            return Query(token=arg, pieces=tuple(q.pieces[i] for i in range(q.n_pieces)))
        return Query()

    def _run(self, qs, fn):
        """Call fn(array of query pointers) with the BLAS lock when the library may use BLAS."""
        arr = (_lib.QP * len(qs))(*qs)
        if len(qs) > 1:
            with blas_lock:
                return fn(arr)
        return fn(arr)

    def _feat_hits(self, hits, n, h=None, nproj=0):
        out = []
        for i in range(n):
            x = hits[i]
            c = x.cosine
            if h is None:
                out.append(FeatureHit(x.layer, x.feature, KINDS[x.kind], c))
                continue
            s = _lib.sigma(h.ptr, x.kind, x.layer)
            sigma = float(s[x.feature]) if s else float("nan")
            pos, neg, err = ctypes.POINTER(_lib.vx_proj)(), ctypes.POINTER(_lib.vx_proj)(), _err()
            toks = ()
            if _lib.feature_proj(byref(pos), byref(neg), h.ptr, x.layer, x.feature, x.kind, byref(err)) == 0:
                p = neg if c < 0 else pos
                toks = tuple(self._tok(h, p[j].token_id)[0] for j in range(nproj))
            out.append(FeatureHit(x.layer, x.feature, KINDS[x.kind], c, sigma, toks))
        return out

    def _tok_hits(self, h, hits, n):
        return [TokenHit(hits[i].token_id, self._tok(h, hits[i].token_id)[0], hits[i].cosine) for i in range(n)]

    def score(self, query, *, top=20, layer=None, layers=None, kind="both", signed=False, proj=5, text=False):
        """Features whose directions align with `query` (vindex score; spec/queries.md §3):
        the cosine with every selected feature, ranked by |cosine| (signed=True: by cosine,
        largest first).

        query: a token (raw "ĠParis", readable " Paris", "#123" or an int id), text with
          text=True (the mean of the tokenizer's pieces' embeddings), a Feature, or a float
          vector (H,); a list of tokens or an (n, H) array is a batch, answered together.
        top: results per query; layer (one) or layers ((a, b) or "a-b", inclusive);
        kind: "gate", "down" or "both"; proj: top vocabulary tokens shown per feature.
        Returns a ScoreResult, or a list of them for a batch. Raises NotFoundError (unknown
        token), UsageError (bad options, wrong vector size)."""
        top = _count("top", top, 1, 1000000)
        proj = _count("proj", proj, 0, 4096)
        if kind not in _KIND_BITS:
            raise UsageError(f"kind {kind!r}: expected gate, down or both", _lib.VX_EUSAGE)
        so = _lib.vx_score_opts()
        _lib.score_opts_init(byref(so))
        so.top, so.kinds, so.signed_rank = top, _KIND_BITS[kind], 1 if signed else 0
        if layer is not None and layers is not None:
            raise UsageError("give layer or layers, not both", _lib.VX_EUSAGE)
        if layer is not None:
            so.layer_lo = so.layer_hi = _count("layer", layer, 0, 2 ** 32 - 2)
        elif layers is not None:
            if isinstance(layers, str):
                a, sep, b = layers.partition("-")
                if not sep or not a.isdigit() or not b.isdigit():
                    raise UsageError(f"layers {layers!r}: expected 'A-B'", _lib.VX_EUSAGE)
                layers = (int(a), int(b))
            lo, hi = layers
            so.layer_lo, so.layer_hi = _count("layers", lo, 0, 2 ** 32 - 2), _count("layers", hi, 0, 2 ** 32 - 2)
            if so.layer_lo > so.layer_hi:
                raise UsageError(f"layers {lo}-{hi}: expected A <= B", _lib.VX_EUSAGE)
        h = self._live()
        qs, descs, batch, _ = self._make_queries(h, query, text)
        try:
            nq = len(qs)
            hits, n, err = (_lib.vx_feat_hit * (nq * top))(), (c_size_t * nq)(), _err()
            rc = self._run(qs, lambda arr: _lib.score(hits, n, h.ptr, arr, nq, byref(so), byref(err)))
            check(rc, err)
        finally:
            for q in qs:
                _lib.query_free(q)
        nproj = min(proj, self.top_k)
        res = [ScoreResult(descs[i], self._feat_hits(hits[i * top:(i + 1) * top], n[i], h, nproj))
               for i in range(nq)]
        return res if batch else res[0]

    def nearest(self, query=None, *, feature=None, tokens=10, features=10, text=False):
        """Nearest tokens (by cosine over the embeddings, largest first) and features (all
        layers and kinds, by |cosine|) to `query` (as score takes it) or to `feature`
        ("L:F[:gate|down]", a Feature or a tuple) — vindex nearest, spec/queries.md §4. A
        token query skips its own token, a feature query itself. tokens/features: how many
        (0 = none). Returns a NearestResult, or a list for a batch."""
        tokens = _count("tokens", tokens, 0, 1000000)
        features = _count("features", features, 0, 1000000)
        if (query is None) == (feature is None):
            raise UsageError("give exactly one of query and feature", _lib.VX_EUSAGE)
        h = self._live()
        qs, descs, batch, args = self._make_queries(h, query, text, feature)
        nq = len(qs)
        kt, kf = tokens or 1, features or 1
        th, nt = (_lib.vx_tok_hit * (nq * kt))(), (c_size_t * nq)()
        fh, nf = (_lib.vx_feat_hit * (nq * kf))(), (c_size_t * nq)()
        try:
            def both(arr):
                err = _err()
                if tokens:
                    check(_lib.nearest_tokens(th, nt, h.ptr, arr, nq, kt, byref(err)), err)
                if features:
                    so = _lib.vx_score_opts()
                    _lib.score_opts_init(byref(so))
                    so.top = kf
                    check(_lib.score(fh, nf, h.ptr, arr, nq, byref(so), byref(err)), err)
            self._run(qs, both)
        finally:
            for q in qs:
                _lib.query_free(q)
        res = [NearestResult(descs[i], self._tok_hits(h, th[i * kt:(i + 1) * kt], nt[i]),
                             self._feat_hits(fh[i * kf:(i + 1) * kf], nf[i])) for i in range(nq)]
        return res if batch else res[0]

    def describe(self, feature, *, top=10, tokens=10, features=10):
        """What one feature points to (vindex describe, spec/queries.md §5): its sigma, its
        `top` most positive and most negative vocabulary projections, its `tokens` nearest
        tokens, and the `features` most similar features (by |cosine|) of the neighbouring
        layers. `feature`: "L:F[:gate|down]", a Feature or a tuple. Returns a
        DescribeResult."""
        top = _count("top", top, 0, 4096)
        tokens = _count("tokens", tokens, 1, 1000000)
        features = _count("features", features, 1, 1000000)
        h = self._live()
        L, F, K = self._feature(h, feature)
        q, err = _lib.QP(), _err()
        check(_lib.query_feature(byref(q), h.ptr, L, F, K, byref(err)), err)
        try:
            pos, neg = ctypes.POINTER(_lib.vx_proj)(), ctypes.POINTER(_lib.vx_proj)()
            check(_lib.feature_proj(byref(pos), byref(neg), h.ptr, L, F, K, byref(err)), err)
            arr = (_lib.QP * 1)(q)
            th, nt = (_lib.vx_tok_hit * tokens)(), c_size_t()
            check(_lib.nearest_tokens(th, byref(nt), h.ptr, arr, 1, tokens, byref(err)), err)
            sim = []
            # The neighbouring layers, each ranked on its own, merged in the same order.
            for nb in (L - 1, L + 1):
                if nb < 0 or nb >= self.num_layers:
                    continue
                so = _lib.vx_score_opts()
                _lib.score_opts_init(byref(so))
                so.top, so.layer_lo, so.layer_hi = features, nb, nb
                fh, nf = (_lib.vx_feat_hit * features)(), c_size_t()
                check(_lib.score(fh, byref(nf), h.ptr, arr, 1, byref(so), byref(err)), err)
                sim += self._feat_hits(fh, nf.value)
        finally:
            _lib.query_free(q)
        nF = self.num_feats
        sim.sort(key=lambda x: (-abs(x.cosine), (x.layer * 2 + KINDS.index(x.kind)) * nF + x.feature))
        nproj = min(top, self.top_k)
        s = _lib.sigma(h.ptr, K, L)
        proj = lambda p: [Projection(p[i].token_id, self._tok(h, p[i].token_id)[0], p[i].value) for i in range(nproj)]
        return DescribeResult(L, F, KINDS[K], float(s[F]), proj(pos), proj(neg), self._tok_hits(h, th, nt.value),
                              sim[:features])

    def verify(self, threads=None):
        """vindex.verify() of this vindex's directory (re-reads every file)."""
        return verify(self.path, threads=threads)


# ---------------------------------------------------------------------- module level


def open(path):  # noqa: A001 - the package's entry point, as in "vindex.open"
    """Open the vindex in directory `path` and return a Vindex (a context manager). Raises
    NotFoundError, CorruptError, UnsupportedError, SystemCallError."""
    return Vindex(path)


def verify(path, threads=None):
    """Check a vindex completely (vindex verify): every file's SHA-256 against SHA256SUMS
    (large files by the chunk digests index.json records, spec R-I10), the XXH3 in
    index.json, and every structural fact, on `threads` threads (default: the cores online,
    or VINDEX_THREADS). Returns a VerifyResult (problems as "FILE: problem" lines; ok when
    there are none). Raises only when the check cannot run (NotFoundError, SystemCallError,
    ...)."""
    threads = 0 if threads is None else _count("threads", threads, 1, 64)
    lines = []

    @_lib.MESSAGE_FN
    def report(ctx, line):
        lines.append(line.decode("utf-8", "surrogateescape"))

    n, err = c_int(), _err()
    rc = _lib.verify(_enc(path), threads, report, None, byref(n), byref(err))
    if rc and rc != _lib.VX_EMISMATCH:
        check(rc, err)
    p = os.fspath(path) if not isinstance(path, bytes) else os.fsdecode(path)
    digest = None
    if n.value == 0 and _lib.content_digest is not None:
        try:
            digest = content_digest(path)
        except Error:
            pass  # no SHA256SUMS to derive it from: verify has said so, or it is optional
    return VerifyResult(p, n.value == 0, lines, digest)


def content_digest(path):
    """The content digest of the vindex in `path` (spec §9 R-B6) from its SHA256SUMS: 64
    lowercase hex digits. Raises NotFoundError, CorruptError, SystemCallError."""
    if _lib.content_digest is None:
        raise UnsupportedError(f"content_digest: the loaded libvindex ({_lib.path}) does not implement format "
                               "version 2 yet", _lib.VX_EUNSUPPORTED)
    buf, err = ctypes.create_string_buffer(65), _err()
    check(_lib.content_digest(buf, _enc(path), byref(err)), err)
    return buf.value.decode()
