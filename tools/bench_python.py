#!/usr/bin/python3
"""bench_python.py MODE VX TOKEN [REPS] — the Python package (python/vindex) on a vindex, for
tools/bench.sh. Prints key=value pairs on one line.

  score          best and first wall time of vx.score(TOKEN) (top 20, both kinds, as
                 `mkvindex --time` runs vx_score), end to end from Python: query built,
                 library call (GIL released), hits turned into objects with sigma and top
                 tokens; beside it the bare library call through ctypes, to show the binding's
                 own cost.
  snippet-views  the seed card's computation, gate_n @ emb_n[token] (cosine of the token with
                 every gate direction), on the zero-copy views: only the gate matrix and one
                 embedding row are read. Wall time from open, peak RSS.
  snippet-numpy  the same computation as the seed card does it: whole files read with
                 np.frombuffer(open().read()), converted to f32, every row normalised.
"""
import json
import os
import resource
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))


def peak_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def score(d, token, reps):
    import ctypes
    import vindex
    from vindex import _lib
    vx = vindex.open(d)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        r = vx.score(token)
        times.append((time.perf_counter() - t0) * 1e3)
    # the library call alone, through ctypes, on a prepared query
    h = vx._live()
    q = _lib.QP()
    _lib.query_token(ctypes.byref(q), h.ptr, token.encode(), 0, None)
    so = _lib.vx_score_opts()
    _lib.score_opts_init(ctypes.byref(so))
    hits, n, arr = (_lib.vx_feat_hit * 20)(), ctypes.c_size_t(), (_lib.QP * 1)(q)
    bare = []
    for _ in range(reps):
        t0 = time.perf_counter()
        _lib.score(hits, ctypes.byref(n), h.ptr, arr, 1, ctypes.byref(so), None)
        bare.append((time.perf_counter() - t0) * 1e3)
    _lib.query_free(q)
    print(f"py_score_first_ms={times[0]:.3f} py_score_best_ms={min(times):.3f} "
          f"py_ctypes_call_best_ms={min(bare):.3f} top={r.results[0].layer}:{r.results[0].feature}:"
          f"{r.results[0].kind}:{r.results[0].cosine:.5f}")


def snippet_views(d, token):
    import vindex
    t0 = time.perf_counter()
    # As README.md's Python section writes it.
    vx = vindex.open(d)
    e = vx.embeddings[vx.token_id(token)].astype(np.float32)   # one row of embeddings.bin
    e /= np.linalg.norm(e)
    gate = vx.gate.reshape(-1, vx.hidden_size)                  # [L*F, H] float16, a view of the map
    buf = np.empty((1024, vx.hidden_size), np.float32)          # f32 scratch, reused: fresh pages cost
    cos = np.empty(len(gate), np.float32)
    for i in range(0, len(gate), 1024):
        g = buf[:len(gate[i:i + 1024])]
        g[...] = gate[i:i + 1024]
        cos[i:i + len(g)] = (g @ e) / np.sqrt(np.einsum("ij,ij->i", g, g))   # row norms, no temporary
    dt = time.perf_counter() - t0
    np.save(os.environ.get("VX_SNIPPET_OUT", "/dev/null"), cos)
    print(f"views_s={dt:.4f} views_rss_kb={peak_kb()} best={int(np.argmax(np.abs(cos)))}")


def snippet_numpy(d, token):
    t0 = time.perf_counter()
    idx = json.load(open(f"{d}/index.json"))
    L, F, H, V = idx["num_layers"], idx["num_feats"], idx["hidden_size"], idx["vocab_size"]
    vocab = json.load(open(f"{d}/tokenizer.json"))["model"]["vocab"]
    tid = vocab[token.replace(" ", "\u0120")]
    gate = np.frombuffer(open(f"{d}/gate_vectors.bin", "rb").read(), dtype=np.float16).reshape(L * F, H)
    emb = np.frombuffer(open(f"{d}/embeddings.bin", "rb").read(), dtype=np.float16).reshape(V, H)
    gate_n = gate.astype(np.float32)
    gate_n /= np.linalg.norm(gate_n, axis=1, keepdims=True)
    emb_n = emb.astype(np.float32)
    emb_n /= np.linalg.norm(emb_n, axis=1, keepdims=True) + 1e-30
    cos = gate_n @ emb_n[tid]
    dt = time.perf_counter() - t0
    out = os.environ.get("VX_SNIPPET_OUT")
    if out:
        ref = np.load(out + ".npy") if os.path.exists(out + ".npy") else None
        diff = float(np.max(np.abs(ref - cos))) if ref is not None else float("nan")
    else:
        diff = float("nan")
    print(f"numpy_s={dt:.4f} numpy_rss_kb={peak_kb()} best={int(np.argmax(np.abs(cos)))} max_diff_vs_views={diff:.2e}")


def main():
    mode, d, token = sys.argv[1], sys.argv[2], sys.argv[3]
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    {"score": lambda: score(d, token, reps), "snippet-views": lambda: snippet_views(d, token),
     "snippet-numpy": lambda: snippet_numpy(d, token)}[mode]()


if __name__ == "__main__":
    main()
