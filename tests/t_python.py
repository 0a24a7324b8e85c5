#!/usr/bin/python3
"""t_python.py — the Python package (python/vindex) against the CLI and against the files.

1. Parity: every query through Python (score, nearest, describe, verify, compare) prints,
   through result.to_json(), exactly the bytes `vindex ... --json` prints, on vindexes
   extracted from the four fixtures, synthetic byte-level and Metaspace vindexes and
   synthetic compare pairs; with options, token forms (raw, readable, #id, int, text),
   vectors (H,) and batches (list, (n, H)).
2. Views: equal to the files' bytes, read-only, sharing memory with the map
   (np.shares_memory between two views of one file), no RSS growth when a view of a
   128 MB embeddings file is made (a whole-file read as the control).
3. Close while viewed: views stay valid after close(), queries raise ClosedError, the
   files stay mapped until the last view goes and are then unmapped; a child process that
   closes and keeps using views exits normally.
4. Errors: every vindex.Error subclass raised by some bad input, carrying the library's
   message (the same text the CLI prints).
5. Threads: two threads query one Vindex at once with correct answers; the GIL is
   released during a library call (a PyDLL control, which holds it, shows the check can
   fail).
6. extract in process: the files equal the CLI's, progress phases, stopping by callback.
7. The ctypes structures match the C headers (offsets and sizes from the compiler), and
   help(vindex) documents every public name.
Run with /usr/bin/python3. Prints "N passed, N failed" last.
"""
import ctypes
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
from vxtest import BDIR, FIX, ROOT, VINDEX, check, finish, reexec_with

LIB = os.path.join(BDIR, "libvindex.so")


reexec_with(LIB)

# The sanitizer runtime (if any) is loaded now; the CLI and tools this test runs link their
# own, so only the python children get it again (PY_ENV).
PY_ENV = dict(os.environ)
os.environ.pop("LD_PRELOAD", None)
sys.path.insert(0, os.path.join(ROOT, "python"))
import vindex  # noqa: E402
from vindex import _lib  # noqa: E402

MKVINDEX = os.path.join(BDIR, "tools", "mkvindex")
MKPAIR = os.path.join(BDIR, "tools", "mkpair")


def cli(*args):
    p = subprocess.run([VINDEX, *args], capture_output=True)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def same(what, py, *args, status=0):
    """py (a result, list of results or bytes) prints what `vindex ARGS --json` prints."""
    rc, out, err = cli(*args, "--json")
    if not check(rc == status, f"{what}: CLI exit {rc}: {err}"):
        return
    mine = py if isinstance(py, bytes) else py.to_json()
    check(mine + b"\n" == out, f"{what}: Python {mine[:300]!r} != CLI {out[:300]!r}")


def batch_json(results, queries=None):
    items = []
    for i, r in enumerate(results):
        d = r.to_dict()
        if queries is not None:
            d = {"query": queries[i], **d}
        items.append(d)
    return vindex._json.dumps({"queries": items})


def raises(what, cls, fn, msg_in=None):
    try:
        fn()
    except vindex.Error as e:
        ok = type(e) is cls and e.code == cls.code and str(e) and (msg_in is None or msg_in in str(e))
        check(ok, f"{what}: expected {cls.__name__}, got {type(e).__name__} ({e.code}): {e}")
        return e
    except Exception as e:  # noqa: BLE001
        check(False, f"{what}: expected {cls.__name__}, got {type(e).__name__}: {e}")
        return None
    check(False, f"{what}: expected {cls.__name__}, nothing raised")
    return None


def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def mapped(path):
    real = os.path.realpath(path)
    return any(line.rstrip().endswith(real) for line in open("/proc/self/maps"))


# ------------------------------------------------------------------ 1. parity


def parity_queries(name, d):
    vx = vindex.open(d)
    L, H = vx.num_layers, vx.hidden_size
    paris = vx.token_id(" Paris") if vx.info["model"].startswith(FIX) or "tiny" in name else 5
    raw = vx.token(paris)
    text = vx.token_text(paris)
    # score: every token form, options
    for arg, q in ((text, text), (raw, raw), (f"#{paris}", f"#{paris}"), (paris, f"#{paris}"),
                   (np.int64(paris), f"#{paris}")):
        same(f"{name} score {q!r}", vx.score(arg), "score", d, q)
    same(f"{name} score options", vx.score(raw, top=7, layer=L - 1, kind="down", signed=True, proj=3),
         "score", d, raw, "--top", "7", "--layer", str(L - 1), "--kind", "down", "--signed", "--proj", "3")
    same(f"{name} score layers", vx.score(raw, top=5, layers=(0, L - 1), kind="gate", proj=0),
         "score", d, raw, "-n", "5", "--layers", f"0-{L - 1}", "-k", "gate", "-p", "0")
    same(f"{name} score layers str", vx.score(raw, layers=f"0-{min(1, L - 1)}"), "score", d, raw, "--layers",
         f"0-{min(1, L - 1)}")
    # tokens holding a lone byte of a multi-byte character (readable "\xNN") are reached
    # by #id only (spec/queries.md Q-T1)
    toks = [vx.token(i) for i in (3, 17, 101, 202, paris) if vx.token(i).strip() and "\\x" not in vx.token_text(i)]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(toks) + "\n")
    same(f"{name} score batch", batch_json(vx.score(toks, top=4)), "score", d, "--batch", f.name, "--top", "4")
    same(f"{name} nearest batch", batch_json(vx.nearest(toks, tokens=3, features=4), toks), "nearest", d,
         "--batch", f.name, "--tokens", "3", "--features", "4")
    os.unlink(f.name)
    if "tiny" in name:
        phrase = " The capital of France"
        same(f"{name} score text", vx.score(phrase, text=True), "score", d, phrase, "--text")
        same(f"{name} nearest text", vx.nearest(phrase, text=True), "nearest", d, "--token", phrase, "--text")
    # nearest: token, feature (string, tuple, Feature), vector, counts
    same(f"{name} nearest token", vx.nearest(raw), "nearest", d, "--token", raw)
    same(f"{name} nearest counts", vx.nearest(paris, tokens=0, features=25), "nearest", d, "--token", f"#{paris}",
         "--tokens", "0", "--features", "25")
    same(f"{name} nearest features 0", vx.nearest(text, tokens=12, features=0), "nearest", d, "--token", text,
         "--tokens", "12", "--features", "0")
    for spec, py in ((f"{L - 1}:2:down", f"{L - 1}:2:down"), ("0:1", (0, 1)), (f"{L - 1}:0:gate",
                                                                            vindex.Feature(L - 1, 0, "gate"))):
        same(f"{name} nearest feature {spec}", vx.nearest(feature=py), "nearest", d, "--feature", spec)
    rng = np.random.default_rng(7)
    v = rng.standard_normal(H).astype(np.float32)
    with tempfile.NamedTemporaryFile(suffix=".f32", delete=False) as f:
        f.write(v.astype("<f4").tobytes())
    same(f"{name} nearest vector", vx.nearest(v), "nearest", d, "--vector", f.name)
    same(f"{name} nearest vector f64", vx.nearest(v.astype(np.float64)), "nearest", d, "--vector", f.name)
    os.unlink(f.name)
    # describe
    for spec, kw, args in ((f"0:0", {}, ()), (f"{L - 1}:3:down", {"top": 3, "tokens": 4, "features": 5},
                                                ("--top", "3", "--tokens", "4", "--features", "5")),
                           (f"{L // 2}:1:gate", {"top": 0}, ("-n", "0"))):
        same(f"{name} describe {spec} {kw}", vx.describe(spec, **kw), "describe", d, spec, *args)
    # a vector equal to an embedding row scores as the token does
    e = np.asarray(vx.embeddings[paris], dtype=np.float32)
    a, b = vx.score(e, top=10), vx.score(paris, top=10)
    check([(h.layer, h.feature, h.kind, h.cosine) for h in a.results] ==
          [(h.layer, h.feature, h.kind, h.cosine) for h in b.results], f"{name}: vector = token's embedding")
    # an (n, H) batch equals single queries up to sgemm's order (spec/queries.md §2)
    M = rng.standard_normal((4, H)).astype(np.float32)
    rb, rs = vx.score(M, top=5), [vx.score(M[i], top=5) for i in range(4)]
    check(len(rb) == 4 and all([(h.layer, h.feature) for h in x.results] == [(h.layer, h.feature) for h in y.results]
                               and max(abs(h.cosine - g.cosine) for h, g in zip(x.results, y.results)) < 1e-5
                               for x, y in zip(rb, rs)), f"{name}: (n, H) batch = single queries")
    vx.close()
    # verify, intact and damaged
    same(f"{name} verify", vindex.verify(d), "verify", d)


def parity_verify_damaged(tmp, d):
    bad = os.path.join(tmp, "damaged")
    shutil.copytree(d, bad)
    p = os.path.join(bad, "gate_vectors.bin")
    b = bytearray(open(p, "rb").read())
    b[100] ^= 0x40
    open(p, "wb").write(b)
    r = vindex.verify(bad, threads=1)
    check(not r.ok and not r and r.problems and "gate_vectors.bin" in r.problems[0], f"damaged: {r}")
    same("verify damaged", r, "verify", bad, status=1)
    return bad


def parity_compare(vxs, tmp):
    a, b = vxs["tiny-llama"], vxs["tiny-qwen3"]
    same("compare llama qwen3", vindex.compare(a, b), "compare", a, b)
    same("compare map-free options", vindex.compare(a, b, knn=3, knn_sample="all"), "compare", a, b, "--knn", "3",
         "--knn-sample", "all")
    same("compare without map-free", vindex.compare(a, b, knn_sample=40, map_free=False), "compare", a, b,
         "--knn-sample", "40", "--no-map-free")
    mp = os.path.join(tmp, "py.map")
    vindex.compare(a, b, save_map=mp, map_free=False)
    check(open(mp, "rb").read(8) == b"\x89VXMAP\r\n", "compare(save_map=...) writes the map file")
    same("compare options", vindex.compare(b, a, anchors=300, test=100, seed=7, pca_sample=500, layer_map=[(0, 1),
                                                                                                         (2, 3)]),
         "compare", b, a, "--anchors", "300", "--test", "100", "--seed", "7", "--pca-sample", "500", "--layer-map",
         "0:1,2:3")
    g2, g3 = vxs["tiny-gpt2"], vxs["tiny-gemma3"]
    with vindex.open(g2) as va:
        # raw strings, but #ID for a token holding a lone byte of a character (Q-T1)
        toks = [va.token(i) if "\\x" not in va.token_text(i) else f"#{i}" for i in range(200, 400)]
        test = [va.token(i) if "\\x" not in va.token_text(i) else f"#{i}" for i in range(400, 460)]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(toks) + "\n")
    same("compare anchors file", vindex.compare(g2, g3, anchors=f.name, test=25), "compare", g2, g3, "--anchors",
         f.name, "--test", "25")
    with vindex.open(g2) as va, vindex.open(g3) as vb:  # Vindex objects and token lists
        same("compare lists", vindex.compare(va, vb, anchors=list(range(200, 400)), test=test, threads=1),
             "compare", g2, g3, "--anchors", f.name, "--test", _write(tmp, "test.txt", test), "--threads", "1")
    os.unlink(f.name)
    pa, pb = os.path.join(tmp, "pair-a"), os.path.join(tmp, "pair-b")
    p = subprocess.run([MKPAIR, pa, pb, "--b-vocab", "perm", "--hidden-a", "64", "--hidden-b", "80", "--feats", "8",
                        "--vocab", "2048"], capture_output=True, text=True)
    if check(p.returncode == 0, f"mkpair: {p.stderr}"):
        r = vindex.compare(pa, pb)
        same("compare text-matched pair", r, "compare", pa, pb)
        check(r.match == "text" and r.gate_sim.shape == (r.layers["layers_a"], r.layers["layers_b"]) and
              r.gate_sim[0, 0] == r.layers["gate"][0][0], "CompareResult attributes and matrices")


def _write(tmp, name, lines):
    p = os.path.join(tmp, name)
    open(p, "w").write("\n".join(lines) + "\n")
    return p


# ------------------------------------------------------------------ 2. views


def views(d):
    vx = vindex.open(d)
    idx = json.load(open(os.path.join(d, "index.json")))
    L, F, H, V, K = idx["num_layers"], idx["num_feats"], idx["hidden_size"], idx["vocab_size"], idx["down_top_k"]
    f16 = lambda n: np.fromfile(os.path.join(d, n), dtype="<f2")  # noqa: E731
    check(vx.gate.shape == (L, F, H) and vx.gate.dtype == np.float16 and
          np.array_equal(vx.gate.reshape(-1), f16("gate_vectors.bin")), "gate view = file")
    check(np.array_equal(vx.down.reshape(-1), f16("down_features.bin")), "down view = file")
    check(vx.embeddings.shape == (V, H) and np.array_equal(vx.embeddings.reshape(-1), f16("embeddings.bin"),
                                                             equal_nan=True), "embeddings view = file")
    nb = np.fromfile(os.path.join(d, "norms.bin"), dtype="<f4")
    check(len(vx.norms) == len(idx["norms"]) and all(
        np.array_equal(vx.norms[e["name"]], nb[e["offset"] // 4:e["offset"] // 4 + e["count"]]) for e in idx["norms"]),
        "norms by name = norms.bin at index.json's offsets")
    dm = np.fromfile(os.path.join(d, "down_meta.bin"), dtype=np.uint8)[32:].view([("i", "<u4"), ("v", "<f4")])
    check(vx.down_meta.shape == (L, 2, F, 2 * K) and np.array_equal(vx.down_meta["token_id"].reshape(-1), dm["i"])
          and np.array_equal(vx.down_meta["value"].reshape(-1), dm["v"]), "down_meta view = file")
    sig = np.array([[l["gate_sigma"], l["down_sigma"]] for l in idx["layers"]], dtype=np.float32)
    check(np.array_equal(vx.sigmas, sig), "sigmas = index.json")
    check(vx.info == idx and vx.manifest == json.load(open(os.path.join(d, "manifest.json"))),
          "info and manifest = the files")
    # read-only, and cannot be made writable
    for name, a in (("gate", vx.gate), ("embeddings", vx.embeddings), ("norm", next(iter(vx.norms.values())))):
        try:
            a[0] = 1
            check(False, f"{name}: assignment to a view succeeded")
        except ValueError:
            check(True, "")
        try:
            a.flags.writeable = True
            check(False, f"{name}: a view was made writable")
        except ValueError:
            check(True, "")
    # zero copy: two views of one file share memory; other files do not
    g_bytes = vx.file("gate_vectors.bin")
    check(np.shares_memory(vx.gate, g_bytes) and np.shares_memory(vx.features("gate")[1], vx.gate),
          "gate view and the raw bytes of gate_vectors.bin share memory")
    check(np.shares_memory(vx.embeddings[3], vx.file("embeddings.bin")), "an embedding row shares the file's map")
    check(not np.shares_memory(vx.gate, vx.down), "gate and down do not share memory")
    check(vx.gate.ctypes.data == _lib.features(vx._live().ptr, 0), "gate view starts at vx_features()")
    check(vx.gate is vx.gate, "views are made once")
    vx.close()


def version2(tmp, vxs):
    """The version-2 arrays through the accessors of vindex.h, against the files."""
    kept = os.path.join(tmp, "llama-unembed")
    rc, _, err = cli("extract", os.path.join(FIX, "tiny-llama"), "-o", kept, "--features", "16", "--top-k", "4",
                     "--unembed")
    if not check(rc == 0, f"extract --unembed: {err}"):
        return
    cases = (("llama --unembed", kept, "unembed.bin"), ("llama", vxs["tiny-llama"], None),
             ("qwen3 (tied)", vxs["tiny-qwen3"], "embeddings"), ("gpt2 (plain MLP)", vxs["tiny-gpt2"], "embeddings"))
    for name, d, unemb in cases:
        idx = json.load(open(os.path.join(d, "index.json")))
        L, F, H, V = idx["num_layers"], idx["num_feats"], idx["hidden_size"], idx["vocab_size"]
        f32 = lambda n: np.fromfile(os.path.join(d, n), "<f4")  # noqa: E731
        with vindex.open(d) as vx:
            check(vx.format_version == 2 == idx["version"], f"{name}: format version 2")
            sp = vx.spectra
            check(sp.shape == (L, 2, H) and sp.dtype == np.float32 and np.array_equal(sp.reshape(-1), f32("spectra.bin"))
                  and np.shares_memory(sp, vx.file("spectra.bin")) and not sp.flags.writeable,
                  f"{name}: spectra view = spectra.bin, in the map")
            check(np.array_equal(sp[:, :, :F], vx.sigmas), f"{name}: the spectra's first F are the sigmas")
            mo = vx.moments
            check(mo.shape == (L, 2, F, 4) and np.array_equal(mo.reshape(-1), f32("moments.bin")),
                  f"{name}: moments view = moments.bin")
            nb = f32("neurons.bin")
            ok, wok = True, True
            for l, lay in enumerate(idx["layers"]):
                nm = lay["neurons"]
                for r, kind in enumerate(nm["kinds"]):
                    off = nm["offset"] // 4 + r * nm["count"]
                    v = vx.neuron_norms(l, kind)
                    ok &= v is not None and np.array_equal(v, nb[off:off + nm["count"]])
                    w, ws = lay["weights"][kind], vx.weight_stats(l, kind)
                    wok &= (ws.rows, ws.cols, ws.fro, list(ws.sparsity)) == (w["rows"], w["cols"], w["fro"],
                                                                             w["sparsity"])
                if "up" not in nm["kinds"]:
                    ok &= vx.neuron_norms(l, "up") is None
                    raises(f"{name}: weight_stats of a missing up matrix", vindex.NotFoundError,
                           lambda: vx.weight_stats(l, "up"))
            check(ok, f"{name}: neuron_norms = neurons.bin blocks (index.json layers[].neurons)")
            check(wok, f"{name}: weight_stats = index.json layers[].weights")
            u = vx.unembedding
            if unemb == "unembed.bin":
                check(u is not None and np.array_equal(u.reshape(-1), np.fromfile(os.path.join(d, "unembed.bin"), "<f2"))
                      and not np.shares_memory(u, vx.embeddings), f"{name}: unembedding = unembed.bin")
            elif unemb == "embeddings":
                check(u is not None and u.ctypes.data == vx.embeddings.ctypes.data, f"{name}: tied: the embeddings")
            else:
                check(u is None, f"{name}: untied, not kept: None")
            info = json.loads(cli("info", d, "--json")[1])
            check(vx.content_digest == info["content_digest"] == vindex.content_digest(d) ==
                  vx.manifest.get("content_digest"), f"{name}: content digest = info's = manifest's")
    # a version-1 vindex (the synthetic one, relabelled): nothing of the battery
    v1 = os.path.join(tmp, "version1")
    shutil.copytree(vxs["syn-bytelevel"], v1)
    j = json.load(open(os.path.join(v1, "index.json")))
    j["version"] = 1
    json.dump(j, open(os.path.join(v1, "index.json"), "w"))
    with vindex.open(v1) as vx:
        check(vx.format_version == 1 and vx.spectra is None and vx.moments is None and
              vx.neuron_norms(0, "gate") is None, "version 1: no battery arrays")
        raises("version 1: weight_stats", vindex.NotFoundError, lambda: vx.weight_stats(0, "gate"))
        raises("version 1: spectra.bin is not a file it maps", vindex.NotFoundError, lambda: vx.file("spectra.bin"))


def rss(tmp):
    d = os.path.join(tmp, "mid")
    p = subprocess.run([MKVINDEX, d, "--layers", "2", "--feats", "16", "--hidden", "1024", "--vocab", "65536",
                        "--topk", "4", "--force"], capture_output=True, text=True)
    if not check(p.returncode == 0, f"mkvindex: {p.stderr}"):
        return None
    subprocess.run(["cat", os.path.join(d, "embeddings.bin")], stdout=subprocess.DEVNULL)  # page cache
    vx = vindex.open(d)
    gc.collect()
    r0 = rss_kb()
    e = vx.embeddings
    row = e[12345].astype(np.float32)
    r1 = rss_kb()
    whole = np.fromfile(os.path.join(d, "embeddings.bin"), dtype=np.float16)
    r2 = rss_kb()
    check(r1 - r0 < 4096, f"a view of a 128 MB embeddings file and one row grew RSS by {r1 - r0} KB")
    check(r2 - r1 > 100000, f"control: reading the file whole grew RSS by only {r2 - r1} KB")
    check(np.array_equal(row, whole.reshape(e.shape)[12345].astype(np.float32)), "the row read through the view")
    del whole, e
    vx.close()
    return d


# ------------------------------------------------------------------ 3. close while viewed

CHILD_CLOSE = r"""
import gc, sys
sys.path.insert(0, sys.argv[2])
import numpy as np, vindex
vx = vindex.open(sys.argv[1])
g, e, n = vx.gate, vx.embeddings[1:5], list(vx.norms.values())[0]
s0 = float(np.abs(g.astype(np.float32)).sum())
vx.close(); del vx; gc.collect()
with vindex.open(sys.argv[1]) as v2:
    d = v2.down
s1 = float(np.abs(g.astype(np.float32)).sum()) + float(e.astype(np.float32).sum()) + float(n.sum()) \
    + float(d.astype(np.float32).sum())
print("ok" if s1 == s1 and s0 > 0 else "bad")
"""


def close_while_viewed(d):
    vx = vindex.open(d)
    g = vx.gate
    part = g[1:3, ::2].T  # a derived view keeps the map too
    ref = g.astype(np.float32).copy()
    path = os.path.join(d, "gate_vectors.bin")
    check(mapped(path), "gate_vectors.bin mapped while open")
    vx.close()
    vx.close()  # twice is fine
    check(vx.closed, "closed")
    check(np.array_equal(g.astype(np.float32), ref), "a view made before close still reads the same values")
    check(mapped(path), "the map is kept while a view is alive")
    raises("score after close", vindex.ClosedError, lambda: vx.score("#1"))
    raises("new view after close", vindex.ClosedError, lambda: vx.embeddings)
    check(isinstance(vindex.ClosedError("x"), ValueError), "ClosedError is a ValueError")
    del g
    gc.collect()
    check(mapped(path), "a derived view still keeps the map")
    del part
    gc.collect()
    check(not mapped(path), "unmapped once the last view is gone")
    with vindex.open(d) as vx2:
        emb = vx2.embeddings
    check(mapped(os.path.join(d, "embeddings.bin")) and emb[1].shape == (vx2.hidden_size,), "views outlive `with`")
    del emb
    gc.collect()
    check(not mapped(os.path.join(d, "embeddings.bin")), "unmapped after with + last view")
    # closing while another thread queries: the query finishes, later ones raise
    vx3 = vindex.open(d)
    out = {}

    def q():
        try:
            out["r"] = [vx3.nearest("#1", tokens=5) for _ in range(20)]
        except vindex.ClosedError:
            out["closed"] = True
    t = threading.Thread(target=q)
    t.start()
    time.sleep(0.005)
    vx3.close()
    t.join()
    check("r" in out or out.get("closed"), "close during queries on another thread")
    p = subprocess.run([sys.executable, "-c", CHILD_CLOSE, d, os.path.join(ROOT, "python")], capture_output=True,
                       text=True, timeout=120, env=PY_ENV)
    check(p.returncode == 0 and p.stdout.strip() == "ok", f"child using views after close: exit {p.returncode} "
                                                         f"{p.stdout} {p.stderr[-500:]}")


# ------------------------------------------------------------------ 4. errors


def errors(vxs, tmp, mid):
    d = vxs["tiny-llama"]
    vx = vindex.open(d)
    e = raises("unknown token", vindex.NotFoundError, lambda: vx.score("Supercalifragilistic"))
    rc, out, err = cli("score", d, "Supercalifragilistic")
    check(e is not None and rc == 1 and e.message in err, f"the CLI prints the same message: {err!r}")
    check(isinstance(e, LookupError), "NotFoundError is a LookupError")
    raises("token id out of range", vindex.NotFoundError, lambda: vx.score(10 ** 6))
    raises("negative id", vindex.NotFoundError, lambda: vx.nearest(-1))
    raises("feature out of range", vindex.NotFoundError, lambda: vx.describe("99:0"))
    raises("a file the vindex does not map", vindex.NotFoundError, lambda: vx.file("SHA256SUMS"))
    raises("open a missing directory", vindex.NotFoundError, lambda: vindex.open(os.path.join(tmp, "nothing")))
    e = raises("wrong vector size", vindex.UsageError, lambda: vx.nearest(np.zeros(vx.hidden_size + 1, np.float32)))
    check(isinstance(e, ValueError), "UsageError is a ValueError")
    raises("non-finite vector", vindex.UsageError, lambda: vx.score(np.full(vx.hidden_size, np.nan, np.float32)))
    raises("top 0", vindex.UsageError, lambda: vx.score("#1", top=0))
    raises("layer out of range", vindex.UsageError, lambda: vx.score("#1", layer=vx.num_layers))
    raises("malformed feature", vindex.UsageError, lambda: vx.nearest(feature="1-2"))
    raises("kind", vindex.UsageError, lambda: vx.score("#1", kind="up"))
    raises("empty token", vindex.UsageError, lambda: vx.token_id(""))
    raises("query and feature", vindex.UsageError, lambda: vx.nearest("#1", feature="0:0"))
    raises("open a regular file", vindex.SystemCallError, lambda: vindex.open(os.path.join(d, "index.json")))
    raises("extract into a file", vindex.SystemCallError,
           lambda: vindex.extract(os.path.join(FIX, "tiny-llama"), os.path.join(d, "index.json", "x")))
    raises("extract over an existing vindex", vindex.ExistsError,
           lambda: vindex.extract(os.path.join(FIX, "tiny-llama"), d))
    bad = os.path.join(tmp, "corrupt")
    shutil.copytree(d, bad)
    idx = open(os.path.join(bad, "index.json")).read()
    open(os.path.join(bad, "index.json"), "w").write(idx.replace('"num_feats":', '"num_feats": 1e99, "x":', 1))
    e = raises("corrupt index.json", vindex.CorruptError, lambda: vindex.open(bad))
    rc, out, err = cli("info", bad)
    check(e is not None and e.message in err, f"corrupt: the CLI says the same ({err.strip()})")
    unsup = os.path.join(tmp, "unsupported")
    shutil.copytree(d, unsup)
    j = json.load(open(os.path.join(unsup, "index.json")))
    j["version"] = 99
    json.dump(j, open(os.path.join(unsup, "index.json"), "w"))
    raises("index.json version 99", vindex.UnsupportedError, lambda: vindex.open(unsup))
    pa, pb = os.path.join(tmp, "few-a"), os.path.join(tmp, "few-b")
    p = subprocess.run([MKPAIR, pa, pb, "--b-vocab", "few:6", "--hidden-a", "32", "--hidden-b", "32", "--feats", "4",
                        "--vocab", "512"], capture_output=True, text=True)
    if check(p.returncode == 0, f"mkpair few: {p.stderr}"):
        raises("compare: too few shared tokens", vindex.MismatchError, lambda: vindex.compare(pa, pb),
               "too few shared tokens")
    e = raises("compare: more anchors and test tokens than shared", vindex.UsageError,
               lambda: vindex.compare(d, vxs["tiny-qwen3"], anchors=3000, test=3000))
    rc, out, err = cli("compare", d, vxs["tiny-qwen3"], "--anchors", "3000", "--test", "3000")
    check(e is not None and rc == 2 and e.message in err, f"compare: the CLI's message and exit 2 ({err.strip()})")
    raises("extract interrupted", vindex.Interrupted,
           lambda: vindex.extract(os.path.join(FIX, "tiny-llama"), os.path.join(tmp, "stopped"), features=8,
                                  progress=lambda p: False))
    check(not os.path.exists(os.path.join(tmp, "stopped")) and
          not [f for f in os.listdir(tmp) if ".vxtmp." in f], "an interrupted extraction leaves nothing")
    vx.close()
    # out of memory: the address space limited below the size of the embeddings map
    code = ("import resource, sys; sys.path.insert(0, sys.argv[2]); import vindex\n"
            "vm = int([l for l in open('/proc/self/status') if l.startswith('VmSize')][0].split()[1]) * 1024\n"
            "resource.setrlimit(resource.RLIMIT_AS, (vm + (48 << 20), vm + (48 << 20)))\n"
            "try:\n    vindex.open(sys.argv[1])\nexcept vindex.OutOfMemoryError as e:\n"
            "    print('OutOfMemoryError', isinstance(e, MemoryError), e)\n")
    if mid:
        p = subprocess.run([sys.executable, "-c", code, mid, os.path.join(ROOT, "python")], capture_output=True,
                           text=True, timeout=60, env=PY_ENV)
        check(p.stdout.startswith("OutOfMemoryError True"), f"mapping beyond RLIMIT_AS: {p.stdout} {p.stderr[-400:]}")
    # every class is distinct, has its pinned code, and is a vindex.Error
    codes = {c.code for c in vindex._errors.BY_CODE.values()}
    check(codes == {-1, -2, -3, -4, -5, -6, -7, -8, -9}, "one class per library error code")
    check(all(issubclass(c, vindex.Error) for c in vindex._errors.BY_CODE.values()), "all derive from vindex.Error")


# ------------------------------------------------------------------ 5. threads and the GIL


def threads(vxs, tmp):
    d = vxs["tiny-gemma3"]
    vx = vindex.open(d)
    queries = [vx.token(i) for i in range(5, 45)]
    want_s = {q: vx.score(q, top=8).to_json() for q in queries}
    want_n = {q: vx.nearest(q, tokens=6, features=6).to_json() for q in queries}
    bad = []

    def worker(k):
        for rep in range(3):
            for i, q in enumerate(queries[k::2] if rep % 2 == 0 else queries):
                if (i + k) % 2:
                    got = vx.score(q, top=8).to_json()
                    if got != want_s[q]:
                        bad.append(("score", q))
                else:
                    got = vx.nearest(q, tokens=6, features=6).to_json()
                    if got != want_n[q]:
                        bad.append(("nearest", q))
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    check(not bad, f"two threads querying one Vindex: {len(bad)} wrong answers {bad[:3]}")
    # batches and compare from two threads at once (they serialise on OpenBLAS)
    res = {}

    def batch():
        res["b"] = [r.to_json() for r in vx.score(queries, top=8)]

    def cmp():
        res["c"] = vindex.compare(vxs["tiny-llama"], vxs["tiny-qwen3"]).to_json()
    ts = [threading.Thread(target=batch), threading.Thread(target=cmp)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    single = [vx.score(queries, top=8)[i].to_json() for i in range(len(queries))]
    check(res.get("b") == single and res.get("c") == vindex.compare(vxs["tiny-llama"], vxs["tiny-qwen3"]).to_json(),
          "a batch and a compare on two threads")
    vx.close()


GIL_CHILD = r"""
import ctypes, os, sys, threading
sys.path.insert(0, sys.argv[2])
from vindex import _lib
fifo = sys.argv[1]
# vx_verify_target through a CDLL handle, as _lib binds every function; the control binds
# the same function through PyDLL, which keeps the GIL
lib = ctypes.PyDLL(_lib.path) if sys.argv[3] == "pydll" else ctypes.CDLL(_lib.path)
fn = lib.vx_verify_target
fn.restype = ctypes.c_int
fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
               ctypes.c_void_p, ctypes.POINTER(_lib.vx_err)]
out = {}
def verifier():
    res, err = ctypes.create_string_buffer(1 << 16), _lib.vx_err()
    out["rc"] = fn(res, fifo.encode(), None, None, 1, None, None, ctypes.byref(err))
    out["msg"] = err.msg.decode()
t = threading.Thread(target=verifier)
t.start()
# An archive may come through a pipe, so verify opens a FIFO target and waits for a
# writer: this thread, running Python. The stream then ends at once: not an archive.
open(fifo, "w").close()
t.join()
print(out["rc"] != 0, fifo in out["msg"])
"""


def gil(tmp):
    """A library call blocks until this process's main thread, running Python, opens a
    FIFO: it completes only if the call released the GIL. Through PyDLL (the control) it
    deadlocks and is killed."""
    res = {}
    for mode, limit in (("cdll", 30), ("pydll", 4)):
        fifo = os.path.join(tmp, "fifo-" + mode + ".tar.zst")
        os.mkfifo(fifo)
        try:
            p = subprocess.run([sys.executable, "-c", GIL_CHILD, fifo, os.path.join(ROOT, "python"), mode],
                               capture_output=True, text=True, timeout=limit, env=PY_ENV)
            res[mode] = p.stdout.strip() or p.stderr[-300:]
        except subprocess.TimeoutExpired:
            res[mode] = "deadlock"
    check(res["cdll"] == "True True", f"a library call releases the GIL: {res['cdll']}")
    check(res["pydll"] == "deadlock", f"control: through PyDLL it deadlocks: {res['pydll']}")
    flags = [getattr(_lib, n)._flags_ for n in dir(_lib) if isinstance(getattr(_lib, n), ctypes._CFuncPtr)
             and getattr(getattr(_lib, n), "__name__", "").startswith("vx_")]
    check(len(flags) > 20 and all(not f & ctypes._FUNCFLAG_PYTHONAPI for f in flags),
          f"every bound vx_ function is a CDLL function ({len(flags)})")


# ------------------------------------------------------------------ 6. extract


def extract(tmp, vxs):
    out = os.path.join(tmp, "py-extract")
    seen = []
    r = vindex.extract(os.path.join(FIX, "tiny-qwen3"), out, features=16, top_k=8, threads=2,
                       progress=lambda p: seen.append(p))
    ref = os.path.join(tmp, "cli-extract")
    rc, _, err = cli("extract", os.path.join(FIX, "tiny-qwen3"), "-o", ref, "--features", "16", "--top-k", "8",
                     "--threads", "2")
    check(r == out and rc == 0, f"extract: {err}")
    sums = lambda p: [l for l in open(os.path.join(p, "SHA256SUMS")) if "manifest.json" not in l]  # noqa: E731
    check(sums(out) == sums(ref), "extract in process writes the CLI's bytes (every file but manifest.json)")
    phases = [p.phase for p in seen]
    check({"svd", "project", "write", "hash"} <= set(phases) and all(isinstance(p, vindex.Progress) for p in seen),
          f"progress phases {sorted(set(phases))}")
    check(any(p.phase == "svd" and p.layer >= 0 and p.num_layers == 3 for p in seen), "per-layer progress")
    warned = []
    vindex.extract(os.path.join(FIX, "tiny-qwen3"), out, features=4000, top_k=4, force=True, warn=warned.append)
    check(any("capped" in w for w in warned), f"warnings reach warn(): {warned}")
    # extract(threads=1) leaves OpenBLAS's thread count as it found it: a later compare on
    # a pair whose PCA runs on BLAS (H = 80) still prints the CLI's numbers
    vindex.extract(os.path.join(FIX, "tiny-qwen3"), out, features=8, top_k=4, force=True, threads=1)
    pa, pb = os.path.join(tmp, "pair-a"), os.path.join(tmp, "pair-b")
    same("compare after extract(threads=1)", vindex.compare(pa, pb), "compare", pa, pb)
    same("compare after compare(threads=1)", (vindex.compare(pa, pb, threads=1), vindex.compare(pa, pb))[1],
         "compare", pa, pb)

    class Boom(Exception):
        pass

    def boom(p):
        if p.phase == "project":
            raise Boom()
    try:
        vindex.extract(os.path.join(FIX, "tiny-qwen3"), os.path.join(tmp, "boom"), features=8, progress=boom)
        check(False, "an exception in the progress callback stops the extraction")
    except Boom:
        check(not os.path.exists(os.path.join(tmp, "boom")), "the callback's exception, nothing written")


# ------------------------------------------------------------------ 7. ABI and documentation


def abi(tmp):
    """Compile offsetof/sizeof of every mirrored structure and compare with ctypes."""
    structs = [getattr(_lib, n) for n in dir(_lib) if isinstance(getattr(_lib, n), type) and
               issubclass(getattr(_lib, n), ctypes.Structure) and hasattr(getattr(_lib, n), "_c_name_")]
    structs += list(vindex._compare.STRUCTS)
    lines, want = [], []
    for s in structs:
        lines.append(f'printf("%zu\\n", sizeof({s._c_name_}));')
        want.append(ctypes.sizeof(s))
        for f in s._fields_:
            lines.append(f'printf("%zu\\n", offsetof({s._c_name_}, {f[0]}));')
            want.append(getattr(s, f[0]).offset)
    src = ("#include <stddef.h>\n#include <stdio.h>\n#include \"vindex.h\"\n#include \"vx_query.h\"\n"
           "#include \"vx_compare.h\"\nint main(void) {\n" + "\n".join(lines) + "\nreturn 0;\n}\n")
    c, exe = os.path.join(tmp, "abi.c"), os.path.join(tmp, "abi")
    open(c, "w").write(src)
    p = subprocess.run(["cc", "-std=c11", "-I", os.path.join(ROOT, "include"), c, "-o", exe], capture_output=True,
                       text=True)
    if not check(p.returncode == 0, f"the ctypes mirror names fields the headers lack: {p.stderr[:800]}"):
        return
    got = [int(x) for x in subprocess.run([exe], capture_output=True, text=True).stdout.split()]
    names = []
    for s in structs:
        names.append(f"sizeof {s._c_name_}")
        names += [f"{s._c_name_}.{f[0]}" for f in s._fields_]
    diff = [(n, w, g) for n, w, g in zip(names, want, got) if w != g]
    check(len(got) == len(want) and not diff, f"ctypes layouts = C layouts; differing: {diff[:5]}")
    check(len(structs) >= 14, f"{len(structs)} structures checked")


def readme(d):
    """README.md's Python section runs as written, on a fixture vindex, and computes the
    cosines numpy computes from the files (and vx.score ranks)."""
    text = open(os.path.join(ROOT, "README.md")).read().split("## Python", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    if not check(len(blocks) >= 2, "README's Python section has its code blocks"):
        return
    ns = {}
    exec(blocks[0].replace('"qwen3-8b.vindex"', repr(d)), ns)  # noqa: S102 - our own README
    exec(blocks[1], ns)  # noqa: S102
    idx = json.load(open(os.path.join(d, "index.json")))
    L, F, H = idx["num_layers"], idx["num_feats"], idx["hidden_size"]
    g = np.fromfile(os.path.join(d, "gate_vectors.bin"), "<f2").reshape(L * F, H).astype(np.float64)
    vx = ns["vx"]
    e = np.fromfile(os.path.join(d, "embeddings.bin"), "<f2").reshape(-1, H)[vx.token_id(" Paris")].astype(np.float64)
    ref = (g / np.linalg.norm(g, axis=1, keepdims=True)) @ (e / np.linalg.norm(e))
    check(np.abs(ns["cos"] - ref).max() < 1e-5, "README snippet = float64 numpy on the files")
    top = ns["r"].results[0]
    check(top.kind == "gate" and abs(top.cosine - ref[top.layer * F + top.feature]) < 1e-5 and
          abs(abs(top.cosine) - np.abs(ref).max()) < 1e-5, "README's vx.score ranks the same cosines")
    vx.close()


def docs():
    import pydoc
    text = pydoc.render_doc(vindex, renderer=pydoc.plaintext)
    for name in vindex.__all__:
        obj = getattr(vindex, name)
        if callable(obj) or isinstance(obj, type):
            check(bool(getattr(obj, "__doc__", None)), f"vindex.{name} has a docstring")
    for name in ("score", "nearest", "describe", "close", "token_id", "gate", "embeddings", "norms", "spectra"):
        check(bool(getattr(vindex.Vindex, name).__doc__), f"Vindex.{name} has a docstring")
    check("zero-copy" in text.lower() or "no copy" in text and "ClosedError" in text and "GIL" in text,
          "help(vindex) explains views, closing and threads")
    rc, out, _ = cli("--version")
    check(out.decode().split()[-1] == vindex.__version__, f"__version__ {vindex.__version__} = vindex --version")
    check(os.path.realpath(vindex.library_path) == os.path.realpath(LIB), f"loaded {vindex.library_path}")


def main():
    tmp = tempfile.mkdtemp(prefix="vx-python-")
    try:
        vxs = {}
        for m in ("tiny-llama", "tiny-qwen3", "tiny-gpt2", "tiny-gemma3"):
            d = os.path.join(tmp, m)
            rc, _, err = cli("extract", os.path.join(FIX, m), "-o", d, "--features", "32", "--top-k", "8")
            if check(rc == 0, f"extract {m}: {err}"):
                vxs[m] = d
        for style in ("bytelevel", "metaspace"):
            d = os.path.join(tmp, "syn-" + style)
            p = subprocess.run([MKVINDEX, d, "--layers", "3", "--feats", "16", "--hidden", "64", "--vocab", "3000",
                                "--topk", "4", "--style", style], capture_output=True, text=True)
            if check(p.returncode == 0, f"mkvindex {style}: {p.stderr}"):
                vxs["syn-" + style] = d
        for name, d in vxs.items():
            parity_queries(name, d)
        parity_verify_damaged(tmp, vxs["tiny-llama"])
        parity_compare(vxs, tmp)
        views(vxs["tiny-gemma3"])
        version2(tmp, vxs)
        mid = rss(tmp)
        close_while_viewed(vxs["tiny-llama"])
        errors(vxs, tmp, mid)
        threads(vxs, tmp)
        gil(tmp)
        extract(tmp, vxs)
        abi(tmp)
        readme(vxs["tiny-llama"])
        docs()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
