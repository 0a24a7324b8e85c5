#!/usr/bin/python3
"""`compare --save-map` and `vindex map` (spec/map-format.md).

  * the file, decoded here from the spec's layout, holds the map compare fitted: its
    held-out centred cosine mean equals compare's `cosine.mean` (explicit anchor/test
    lists), R is orthogonal and the basis orthonormal;
  * `vindex map --out` writes exactly what §4's formulas give in float64 numpy, and
    `nearest --vector` on that file answers what `vindex map` listed;
  * a model mapped to itself: every feature lands on itself, every token on itself;
  * A → B → A: a point comes back as its projection on the PCA subspace (formula), and
    lands on its own token for nearly every token; a feature comes back to itself;
  * the file survives the corruption treatment (truncations, bit flips, appended bytes,
    crafted files with a valid checksum that break M3–M8): exit 1 naming the file, never a
    crash; vindexes that are not the map's are refused (M9); --a/--b find moved ones;
  * writes are atomic; usage errors exit 2.
Prints "N passed, N failed"."""
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
from vxtest import BDIR, ROOT, VINDEX, check, finish

sys.path.insert(0, os.path.join(ROOT, "tools"))
import bench_compare_ref as ref  # noqa: E402

MKPAIR = os.path.join(BDIR, "tools", "mkpair")


def run(*args, env=None):
    p = subprocess.run([VINDEX] + [str(a) for a in args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def xxh3(data):
    import ctypes
    lib = ctypes.CDLL("libxxhash.so.0")
    lib.XXH3_64bits.restype = ctypes.c_uint64
    lib.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    return lib.XXH3_64bits(data, len(data))


def decode(b):
    """spec/map-format.md §2, read independently of format/mapfile.c."""
    ver, hsz, src, hs, d, na, nb, _ = struct.unpack_from("<8I", b, 8)
    o = 256 + na + nb
    o += -o % 8
    m = {"source": src, "hs": hs, "d": d, "path_a": b[256:256 + na].decode(), "path_b": b[256 + na:256 + na + nb].decode(),
         "digest_a": b[48:112].decode(), "digest_b": b[112:176].decode(), "size": struct.unpack_from("<Q", b, 40)[0]}
    if hs > d:
        m["mu0"] = np.frombuffer(b, "<f8", hs, o).astype(np.float64)
        o += 8 * hs
        m["W"] = np.frombuffer(b, "<f4", d * hs, o).astype(np.float64).reshape(d, hs)
        o += 4 * d * hs
        o += -o % 8
    else:
        m["mu0"], m["W"] = np.zeros(hs), None
    m["muz"] = np.frombuffer(b, "<f8", d, o)
    m["muy"] = np.frombuffer(b, "<f8", d, o + 8 * d)
    m["R"] = np.frombuffer(b, "<f8", d * d, o + 16 * d).reshape(d, d)
    m["R_off"] = o + 16 * d
    m["checksum_ok"] = struct.unpack(">Q", b[-8:])[0] == xxh3(b[:-8])
    return m


def carry(m, v, to_b, point):
    """§4 in float64."""
    src_is_a = m["source"] == 0
    W, R, mu0, muz, muy = m["W"], m["R"], m["mu0"], m["muz"], m["muy"]
    if to_b == src_is_a:  # source -> target
        x = v - (mu0 if point else 0)
        z = W @ x if W is not None else x
        if point:
            z = z - muz
        return z @ R + (muy if point else 0)
    z = (v - (muy if point else 0)) @ R.T + (muz if point else 0)
    x = z @ W if W is not None else z
    return x + (mu0 if point else 0)


def cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def reencode(b, edit):
    """Apply edit(bytearray) and write a valid checksum again (reaches rules after M2)."""
    x = bytearray(b)
    edit(x)
    x[-8:] = struct.pack(">Q", xxh3(bytes(x[:-8])))
    return bytes(x)


def main():
    tmp = tempfile.mkdtemp(prefix="t_map.")
    P = {}
    for name, opts in (("pca", []), ("perm", ["--b-vocab", "perm", "--seed", "4"]),
                       ("nopca", ["--hidden-a", "64", "--hidden-b", "64", "--feats", "8"]),
                       ("bwide", ["--hidden-a", "48", "--hidden-b", "80", "--feats", "8", "--seed", "5"])):
        d = os.path.join(tmp, name)
        p = subprocess.run([MKPAIR, d + "-a", d + "-b", "--vocab", "2000"] + opts, capture_output=True, text=True)
        check(p.returncode == 0, "mkpair %s: %s" % (name, p.stderr))
        P[name] = (d + "-a", d + "-b")

    # 1. the file holds the fitted map
    a, b = P["pca"]
    A, B = ref.Vindex(a), ref.Vindex(b)
    rng = np.random.default_rng(3)
    perm = rng.permutation(A.V)
    anc, tst = perm[:1200], perm[1200:1700]
    fa, ft = os.path.join(tmp, "anc.txt"), os.path.join(tmp, "tst.txt")
    open(fa, "w").write("".join("#%d\n" % i for i in anc))
    open(ft, "w").write("".join("#%d\n" % i for i in tst))
    mp = os.path.join(tmp, "pca.map")
    rc, out, err = run("compare", a, b, "--anchors", fa, "--test", ft, "--json", "--no-map-free", "--save-map", mp)
    check(rc == 0 and os.path.exists(mp), "compare --save-map: exit 0, file written (%s)" % err)
    c = json.loads(out)
    rc2, out2, _ = run("compare", a, b, "--anchors", fa, "--test", ft, "--json", "--no-map-free")
    check(rc2 == 0 and json.loads(out2) == c, "--save-map changes no number of the report")
    raw = open(mp, "rb").read()
    m = decode(raw)
    check(m["checksum_ok"] and m["size"] == len(raw) and m["source"] == 0 and m["hs"] == 128 and m["d"] == 96,
          "header: checksum, size, roles, widths")
    check(m["path_a"] == os.path.realpath(a) and m["path_b"] == os.path.realpath(b), "paths recorded absolute")
    rc, out, _ = run("info", a, "--json")
    check(np.abs(m["R"].T @ m["R"] - np.eye(96)).max() < 1e-9, "R orthogonal")
    check(np.abs(m["W"] @ m["W"].T - np.eye(96)).max() < 1e-5, "basis orthonormal")
    X, Y = A.rows(tst), B.rows(tst)
    Z = (X - m["mu0"]) @ m["W"].T - m["muz"]
    cs = np.sum((Z @ m["R"]) * (Y - m["muy"]), 1) / (np.linalg.norm(Z, axis=1) * np.linalg.norm(Y - m["muy"], axis=1))
    check(abs(cs.mean() - c["cosine_centred"]["mean"]) < 1e-4,
          "the saved map reproduces the held-out centred cosine (%g vs %g)" % (cs.mean(), c["cosine_centred"]["mean"]))
    al = Z @ m["R"] + m["muy"]  # the published aligned rows, against the native ones
    cp = np.sum(al * Y, 1) / (np.linalg.norm(al, axis=1) * np.linalg.norm(Y, axis=1))
    check(abs(cp.mean() - c["cosine"]["mean"]) < 1e-4,
          "the saved map reproduces the held-out published cosine (%g vs %g)" % (cp.mean(), c["cosine"]["mean"]))

    # 2. vindex map --out = §4's formulas; nearest --vector answers the same
    outv = os.path.join(tmp, "v.f32")
    for tok in ("#5", "#123", "#1999"):
        rc, out, err = run("map", mp, "--token", tok, "--out", outv, "--json", "--top", "5")
        check(rc == 0, "map --token %s: %s" % (tok, err))
        if rc:
            continue
        j = json.loads(out)
        v = np.fromfile(outv, "<f4").astype(np.float64)
        want = carry(m, A.rows([int(tok[1:])])[0], True, True)
        check(v.shape == (96,) and np.abs(v - want).max() <= 1e-5 * np.abs(want).max(), "map --token %s --out = formula" % tok)
        rc, out2, _ = run("nearest", b, "--vector", outv, "--tokens", "5", "--features", "5", "--json")
        n = json.loads(out2)[0] if rc == 0 and out2.startswith("[") else json.loads(out2) if rc == 0 else {}
        check(rc == 0 and [t["token_id"] for t in n.get("tokens", [])] == [t["token_id"] for t in j["tokens"]] and
              [(f["layer"], f["feature"], f["kind"]) for f in n.get("features", [])] == [(f["layer"], f["feature"], f["kind"]) for f in j["features"]],
              "nearest --vector on map's --out answers what map listed (%s)" % tok)
        check(j["from"] == "A" and j["to"] == "B" and j["point"] is True and j["query"]["token_id"] == int(tok[1:]), "JSON fields")
    # a feature is a direction: no means
    rc, out, _ = run("map", mp, "--feature", "2:7:down", "--out", outv, "--json")
    g = A.down[2, 7].astype(np.float64)
    v = np.fromfile(outv, "<f4").astype(np.float64)
    check(rc == 0 and np.abs(v - carry(m, g, True, False)).max() <= 1e-5 * np.abs(v).max() and json.loads(out)["point"] is False,
          "map --feature carries a direction (g Wᵀ R)")
    # and the other way: B -> A
    rc, out, _ = run("map", mp, "--token", "#77", "--to", "A", "--out", outv)
    v = np.fromfile(outv, "<f4").astype(np.float64)
    check(rc == 0 and v.shape == (128,) and np.abs(v - carry(m, B.rows([77])[0], False, True)).max() <= 1e-5 * np.abs(v).max()
          and "map B -> A" in out, "map --to A: target -> source formula")

    # 3. a model mapped to itself lands on itself
    ms = os.path.join(tmp, "self.map")
    rc, _, err = run("compare", a, a, "--save-map", ms, "--no-map-free")
    check(rc == 0, "compare A A --save-map: %s" % err)
    bad = []
    for spec in ("0:0", "1:5:gate", "2:9:down", "3:15:down", "3:1:gate"):
        for to in ("A", "B"):
            rc, out, _ = run("map", ms, "--feature", spec, "--to", to, "--json", "--top", "3")
            j = json.loads(out) if rc == 0 else {"features": []}
            f = j["features"][0] if j["features"] else {}
            want = spec.split(":") + (["gate"] if spec.count(":") == 1 else [])
            if not (f and [str(f["layer"]), str(f["feature"]), f["kind"]] == want and f["cosine"] > 0.99999):
                bad.append((spec, to, f))
    check(not bad, "every feature mapped to its own model lands on itself (%s)" % bad)
    bad = []
    for t in range(0, 2000, 97):
        rc, out, _ = run("map", ms, "--token", "#%d" % t, "--json", "--top", "1")
        j = json.loads(out) if rc == 0 else {"tokens": []}
        if not j["tokens"] or j["tokens"][0]["token_id"] != t or j["tokens"][0]["cosine"] < 0.99999:
            bad.append((t, j["tokens"][:1]))
    check(not bad, "every token mapped to its own model lands on itself (%s)" % bad[:3])

    # 4. A -> B -> A
    v1, v2 = os.path.join(tmp, "v1.f32"), os.path.join(tmp, "v2.f32")
    home, cosines = 0, []
    toks = list(range(3, 2000, 41))
    for t in toks:
        rc1, _, _ = run("map", mp, "--token", "#%d" % t, "--out", v1, "--top", "0")
        rc2, out, _ = run("map", mp, "--vector", v1, "--to", "A", "--out", v2, "--json", "--top", "1")
        if rc1 or rc2:
            continue
        back = np.fromfile(v2, "<f4").astype(np.float64)
        x = A.rows([t])[0]
        proj = m["W"].T @ (m["W"] @ (x - m["mu0"])) + m["mu0"]
        cosines.append(cos(back, x))
        if np.abs(back - proj).max() > 1e-4 * np.abs(proj).max():
            cosines[-1] = -9
        home += json.loads(out)["tokens"][0]["token_id"] == t
    check(len(cosines) == len(toks) and min(cosines) > -9, "A->B->A returns the PCA projection of the point (formula)")
    check(home >= 0.9 * len(toks), "A->B->A lands on its own token for %d of %d tokens" % (home, len(toks)))
    check(np.median(cosines) > 0.9, "A->B->A: median cosine with the start %.3f" % np.median(cosines))
    bad = []
    for spec in ("0:3:gate", "1:8:down", "3:12:gate"):
        rc1, _, _ = run("map", mp, "--feature", spec, "--out", v1, "--top", "0")
        rc2, out, _ = run("map", mp, "--vector", v1, "--direction", "--to", "A", "--json", "--top", "1")
        f = json.loads(out)["features"][0] if rc1 == 0 and rc2 == 0 else {}
        if not f or "%d:%d:%s" % (f["layer"], f["feature"], f["kind"]) != spec:
            bad.append((spec, f))
    check(not bad, "A->B->A: a feature comes back to itself (%s)" % bad)

    # other pairs: text-matched, no PCA, B wider (B is the source)
    for name in ("perm", "nopca", "bwide"):
        x, y = P[name]
        f = os.path.join(tmp, name + ".map")
        rc, _, err = run("compare", x, y, "--save-map", f, "--no-map-free")
        mm = decode(open(f, "rb").read()) if rc == 0 else None
        check(rc == 0 and mm["checksum_ok"], "%s: saved (%s)" % (name, err))
        if not mm:
            continue
        check((mm["W"] is None) == (name == "nopca") and mm["source"] == (0 if name == "perm" else 1), "%s: roles (B on ties) and PCA" % name)
        X = ref.Vindex(x)
        rc, _, _ = run("map", f, "--token", "#42", "--out", outv, "--top", "0")
        v = np.fromfile(outv, "<f4").astype(np.float64)
        want = carry(mm, X.rows([42])[0], True, True)
        check(rc == 0 and np.abs(v - want).max() <= 1e-5 * np.abs(want).max(), "%s: map --token = formula" % name)

    # 5. identity of the vindexes (M9)
    moved = os.path.join(tmp, "moved-a")
    shutil.copytree(a, moved)
    rc, out, err = run("map", mp, "--token", "#5", "--a", moved, "--top", "1")
    check(rc == 0, "--a finds a moved copy (same digest): %s" % err)
    other = P["nopca"][0]
    rc, _, err = run("map", mp, "--token", "#5", "--a", P["perm"][0])
    check(rc == 1 and "digest" in err and "M9" in err, "another vindex of the same width is refused (%s)" % err.strip())
    rc, _, err = run("map", mp, "--token", "#5", "--a", other)
    check(rc == 1 and "hidden size" in err, "a vindex of another width is refused (%s)" % err.strip())

    # 6. corruption and truncation
    bad_file = os.path.join(tmp, "bad.map")
    rnd = random.Random(11)
    cases = [("truncate %d" % n, raw[:n]) for n in (0, 1, 8, 100, 255, 256, 263, 264, len(raw) // 2, len(raw) - 8, len(raw) - 1)]
    cases += [("append 1", raw + b"\0"), ("append 9", raw + b"x" * 9)]
    for k in range(60):
        i = rnd.randrange(len(raw)) if k >= 20 else rnd.randrange(256)
        x = bytearray(raw)
        x[i] ^= 1 << rnd.randrange(8)
        cases.append(("flip byte %d" % i, bytes(x)))
    nan = struct.pack("<d", float("nan"))
    Ro = m["R_off"]
    cases += [
        ("valid checksum, version 2", reencode(raw, lambda x: x.__setitem__(slice(8, 12), struct.pack("<I", 2)))),
        ("valid checksum, source 2", reencode(raw, lambda x: x.__setitem__(slice(16, 20), struct.pack("<I", 2)))),
        ("valid checksum, d > hs", reencode(raw, lambda x: x.__setitem__(slice(24, 28), struct.pack("<I", 129)))),
        ("valid checksum, huge widths", reencode(raw, lambda x: x.__setitem__(slice(20, 28), struct.pack("<II", 0xFFFFFFFF, 0xFFFFFFF0)))),
        ("valid checksum, size field", reencode(raw, lambda x: x.__setitem__(slice(40, 48), struct.pack("<Q", len(raw) + 8)))),
        ("valid checksum, path length 0", reencode(raw, lambda x: x.__setitem__(slice(28, 32), struct.pack("<I", 0)))),
        ("valid checksum, digest not hex", reencode(raw, lambda x: x.__setitem__(60, ord("G")))),
        ("valid checksum, NUL in path", reencode(raw, lambda x: x.__setitem__(257, 0))),
        ("valid checksum, reserved", reencode(raw, lambda x: x.__setitem__(200, 1))),
        ("valid checksum, NaN in R", reencode(raw, lambda x: x.__setitem__(slice(Ro, Ro + 8), nan))),
        ("valid checksum, R not orthogonal", reencode(raw, lambda x: x.__setitem__(slice(Ro, Ro + 8), struct.pack("<d", 0.5)))),
        ("valid checksum, basis row not unit", reencode(raw, lambda x: x.__setitem__(slice(256 + len(m["path_a"]) + len(m["path_b"]) + (-(256 + len(m["path_a"]) + len(m["path_b"])) % 8) + 8 * 128, 256 + len(m["path_a"]) + len(m["path_b"]) + (-(256 + len(m["path_a"]) + len(m["path_b"])) % 8) + 8 * 128 + 4), struct.pack("<f", 3.0)))),
    ]
    bad = []
    for label, data in cases:
        open(bad_file, "wb").write(data)
        rc, out, err = run("map", bad_file, "--token", "#5", "--json")
        if rc != 1 or "bad.map" not in err or out:
            bad.append((label, rc, err.strip()[:200]))
    check(not bad, "every damaged map file: exit 1 naming the file, nothing on stdout (%d cases; %s)" % (len(cases), bad[:4]))
    rc, _, err = run("map", os.path.join(tmp, "absent.map"), "--token", "#5")
    check(rc == 1 and "absent.map" in err, "a missing map file: exit 1")

    # 7. atomic writes
    rc, _, err = run("compare", a, b, "--save-map", os.path.join(tmp, "no", "such", "dir.map"), "--no-map-free")
    check(rc == 1 and "dir.map" in err, "--save-map into a missing directory: exit 1 (%s)" % err.strip())
    open(ms, "wb").write(b"old")
    rc, _, _ = run("compare", a, b, "--save-map", ms, "--no-map-free")
    check(rc == 0 and decode(open(ms, "rb").read())["checksum_ok"], "--save-map replaces an existing file")
    check(not [f for f in os.listdir(tmp) if ".tmp." in f], "no temporary files left behind")

    # 8. usage
    for args, why in ((["map", mp], "no query"), (["map", mp, "--token", "#1", "--feature", "0:0"], "two queries"),
                      (["map", mp, "--token", "#1", "--to", "C"], "--to C"), (["map", mp, "--token", "#1", "--direction"], "--direction with a token"),
                      (["map", "--token", "#1"], "no file"), (["map", mp, "--token", "#1", "--top", "-1"], "--top -1"),
                      (["map", mp, "--bogus"], "unknown option")):
        rc, _, err = run(*args)
        check(rc == 2, "%s: exit 2 (%d %s)" % (why, rc, err.strip()))
    rc, out, _ = run("map", "--help")
    check(rc == 0 and "--feature" in out and "--out" in out, "map --help")
    rc, out, _ = run("map", mp, "--token", "#zz")
    check(rc == 1, "an unknown token: exit 1")
    rc, out, _ = run("map", mp, "--token", "#3", "--top", "0", "--json")
    check(rc == 0 and json.loads(out)["tokens"] == [] and json.loads(out)["features"] == [], "--top 0 lists nothing")
    shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
