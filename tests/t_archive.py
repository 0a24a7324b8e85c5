#!/usr/bin/python3
"""Archives end to end (spec/archive.md), through the CLI.

1. Round trips on every fixture: pack -> verify (archive, and stdin) -> unpack -> verify
   (directory) -> pack again gives identical bytes (also with another thread count); GNU
   tar + zstd read the archive with normalised metadata; archives written by GNU tar
   (directory order, posix format, `-C dir .`, shuffled orders) verify and unpack.
2. Anchors: the content digest agrees across pack/verify/unpack and with an independent
   hashlib computation of R-B6; --digest and --sums catch a tampered file whose
   SHA256SUMS and index.json were rewritten to match (which passes without an anchor).
3. A hostile-archive battery: truncations at every boundary class, flipped bytes in
   compressed and uncompressed positions, each tar attack, bombs, a wrong digest, a
   swapped member. Every case: verify and unpack exit 1 (never a signal) with a message
   naming what and where; unpack leaves nothing at DIR, no temporary directory, and an
   existing DIR untouched.
4. The Hugging Face cache: a fake snapshot of links into blobs/ verifies by repo id, and
   a blob whose name is not its content's hash is named.
Prints "N passed, N failed".
"""
import ctypes
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import tarfile
import tempfile
import time

from vxtest import FIX, VINDEX, check, finish

XXH = ctypes.CDLL("libxxhash.so.0")
XXH.XXH3_64bits.restype = ctypes.c_uint64
XXH.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
# the order pack writes (A-P1); a vindex holds the first ten and the §9 files its index.json lists
PACK_ORDER = ["SHA256SUMS", "index.json", "manifest.json", "tokenizer.json", "vocab.bin", "norms.bin", "down_meta.bin",
              "gate_vectors.bin", "down_features.bin", "embeddings.bin", "spectra.bin", "neurons.bin", "moments.bin",
              "unembed.bin"]


def order_of(files):
    return [f for f in PACK_ORDER if f in files]
TMP = tempfile.mkdtemp(prefix="vx-t-archive-")


def run(args, stdin=None, inp=None, cwd=None):
    r = subprocess.run([VINDEX] + args, capture_output=True, stdin=stdin, input=inp, cwd=cwd, timeout=600)
    check(r.returncode >= 0, f"{args}: killed by signal {-r.returncode}: {r.stderr[-500:]!r}")
    return r


def out(r):
    return (r.stdout + r.stderr).decode(errors="replace")


def sha(b):
    return hashlib.sha256(b).hexdigest()


def read_dir(d):
    return {f: open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d))}


def digest_of(files):
    """R-B6, independently: the SHA256SUMS lines of every file but manifest.json and SHA256SUMS."""
    lines = "".join(f"{sha(files[n])}  {n}\n" for n in sorted(files) if n not in ("manifest.json", "SHA256SUMS"))
    return sha(lines.encode())


def resign(st):
    """Make the small files agree with changed data files: manifest.json's content_digest and
    SHA256SUMS (index.json's XXH3 is the caller's)."""
    man = json.loads(st["manifest.json"])
    if "content_digest" in man:
        man["content_digest"] = digest_of(st)
        st["manifest.json"] = json.dumps(man).encode()
    st["SHA256SUMS"] = "".join(f"{sha(st[k])}  {k}\n" for k in sorted(st) if k != "SHA256SUMS").encode()
    return st


def zstd(raw, *opts):
    return subprocess.run(["zstd", "-q", "-c", *opts], input=raw, capture_output=True, check=True).stdout


def digest_line(r):
    for line in out(r).splitlines():
        if "content digest:" in line:
            return line.split()[-1]
    return None


def no_leftovers(parent, name):
    return not [e for e in os.listdir(parent) if e.startswith("." + name + ".vxtmp")]


# ------------------------------------------------------------------ 1. round trips

def fixtures():
    vx = {}
    os.makedirs(os.path.join(TMP, "src"), exist_ok=True)
    for fx, extra in [("tiny-llama", []), ("tiny-qwen3", []), ("tiny-gemma3", []), ("tiny-gpt2", []),
                      ("tiny-llama-unembed", ["--unembed"])]:
        d = os.path.join(TMP, "src", fx + ".vindex")
        src = os.path.join(FIX, fx.replace("-unembed", ""))
        r = run(["extract", src, "-o", d, "--features", "16", "--top-k", "4"] + extra)
        if check(r.returncode == 0, f"{fx}: extract: {out(r)[-300:]}"):
            vx[fx] = d
    return vx


def body_len(files, order):
    """Bytes of the members of a ustar archive, without the end marker."""
    return sum(512 + (len(files[f]) + 511) // 512 * 512 for f in order)


def tar_of(files, order, prefix="x.vindex/", fmt=tarfile.USTAR_FORMAT):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for n in order:
            ti = tarfile.TarInfo(prefix + n)
            ti.size = len(files[n])
            t.addfile(ti, io.BytesIO(files[n]))
    return b.getvalue()


def roundtrip(fx, d):
    files = read_dir(d)
    FILES = order_of(files)
    check(fx != "tiny-llama-unembed" or "unembed.bin" in FILES, "extract --unembed wrote unembed.bin")
    a = os.path.join(TMP, fx + ".vindex.tar.zst")
    r = run(["pack", d, "-o", a])
    if not check(r.returncode == 0 and os.path.exists(a), f"{fx}: pack: {out(r)}"):
        return
    want = digest_of(files)
    check(digest_line(r) == want, f"{fx}: pack digest {digest_line(r)} vs hashlib {want}")
    r = run(["verify", a])
    check(r.returncode == 0 and b": OK" in r.stdout and digest_line(r) == want, f"{fx}: verify archive: {out(r)}")
    check("the archive's SHA256SUMS" in out(r) and "no outside anchor" in out(r), f"{fx}: verify says what it checked against")
    with open(a, "rb") as f:
        r = run(["verify", "-"], stdin=f)
    check(r.returncode == 0 and digest_line(r) == want, f"{fx}: verify from stdin: {out(r)}")
    r = run(["verify", a, "--json", "--threads", "1"])
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    check(j.get("ok") is True and j.get("content_digest") == want and j.get("members") == len(files) and j.get("kind") == "archive",
          f"{fx}: verify --json: {r.stdout[:300]!r}")
    # unpack -> verify -> same files -> pack again: identical bytes
    u = os.path.join(TMP, "un", fx)
    os.makedirs(u, exist_ok=True)
    ud = os.path.join(u, os.path.basename(d))
    r = run(["unpack", a, "-o", ud])
    check(r.returncode == 0 and digest_line(r) == want, f"{fx}: unpack: {out(r)}")
    check(read_dir(ud) == files, f"{fx}: unpacked files differ from the vindex's")
    r = run(["verify", ud])
    check(r.returncode == 0 and digest_line(r) == want, f"{fx}: verify unpacked: {out(r)}")
    a2 = os.path.join(TMP, fx + ".again.tar.zst")
    r = run(["pack", ud, "-o", a2, "--threads", "1"])
    check(r.returncode == 0 and open(a, "rb").read() == open(a2, "rb").read(),
          f"{fx}: pack of the unpacked vindex (1 thread) is not byte-identical: {out(r)}")
    # default names: NAME.vindex.tar.zst, unpacked to NAME.vindex
    cw = os.path.join(TMP, "cwd-" + fx)
    os.makedirs(cw)
    r = run(["pack", d], cwd=cw)
    check(r.returncode == 0 and os.path.exists(os.path.join(cw, fx + ".vindex.tar.zst")), f"{fx}: default archive name")
    r = run(["pack", d], cwd=cw)
    check(r.returncode == 1 and "already exists" in out(r), f"{fx}: an existing archive is not replaced without --force")
    r = run(["pack", d, "--force", "--level", "9"], cwd=cw)
    check(r.returncode == 0, f"{fx}: --force --level 9: {out(r)}")
    r = run(["unpack", fx + ".vindex.tar.zst"], cwd=cw)
    check(r.returncode == 0 and read_dir(os.path.join(cw, fx + ".vindex")) == files, f"{fx}: default unpack dir: {out(r)}")
    # GNU tar + zstd read it, with normalised metadata, SHA256SUMS first and index.json next
    g = os.path.join(TMP, "gnu-" + fx)
    os.makedirs(g)
    r = subprocess.run(["tar", "--zstd", "-xf", a, "-C", g], capture_output=True)
    check(r.returncode == 0 and not r.stderr and read_dir(os.path.join(g, os.path.basename(d))) == files,
          f"{fx}: tar --zstd -xf: {r.stderr!r}")
    r = subprocess.run(["tar", "--zstd", "--numeric-owner", "-tvf", a], capture_output=True, text=True)
    lines = r.stdout.splitlines()
    names = [ln.split()[-1] for ln in lines]
    check(names == [f"{fx}.vindex/{n}" for n in FILES], f"{fx}: member order {names}")
    check(all(ln.startswith("-rw-r--r-- 0/0") and " 1970-01-01 00:00 " in ln for ln in lines),
          f"{fx}: normalised metadata: {lines[:2]}")
    r = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=os.path.join(g, os.path.basename(d)), capture_output=True)
    check(r.returncode == 0, f"{fx}: sha256sum -c after tar -x")
    # archives written by GNU tar, in any order, verify and unpack
    cases = [
        ("dir order", ["tar", "--zstd", "-cf", "@", "-C", os.path.dirname(d), os.path.basename(d)]),
        ("posix", ["tar", "--zstd", "--format=posix", "-cf", "@", "-C", d, "."]),
        ("flat", ["tar", "--zstd", "-cf", "@", "-C", d] + sorted(files)),
        ("reversed", ["tar", "--zstd", "-cf", "@", "-C", d] + FILES[::-1]),
    ]
    rng = random.Random(fx)
    for k in range(3):
        order = FILES[:]
        rng.shuffle(order)
        cases.append((f"shuffled {k}", ["tar", "--zstd", "-cf", "@", "-C", d] + order))
    for label, cmd in cases:
        ga = os.path.join(TMP, f"{fx}-gnu-{label.replace(' ', '_')}.tar.zst")
        subprocess.run([ga if c == "@" else c for c in cmd], check=True)
        r = run(["verify", ga])
        check(r.returncode == 0 and digest_line(r) == want, f"{fx}: GNU tar ({label}) archive: {out(r)}")
        gd = os.path.join(TMP, "gu", fx, label.replace(" ", "_"))
        os.makedirs(os.path.dirname(gd), exist_ok=True)
        r = run(["unpack", ga, "-o", gd])
        check(r.returncode == 0 and read_dir(gd) == files, f"{fx}: unpack GNU tar ({label}): {out(r)}")
    return a, want


# ------------------------------------------------------------------------ 2. anchors

def anchors(d, a, want):
    wrong = "0" * 64
    r = run(["verify", a, "--digest", want])
    check(r.returncode == 0 and "content digest against --digest: match" in out(r), f"--digest match: {out(r)}")
    r = run(["verify", a, "--digest", wrong])
    check(r.returncode == 1 and "MISMATCH" in out(r) and wrong in out(r), f"--digest wrong: {out(r)}")
    r = run(["verify", d, "--digest", want.upper()])
    check(r.returncode == 0 and "match" in out(r), f"--digest (upper case) on the directory: {out(r)}")
    r = run(["verify", d, "--digest", "abc"])
    check(r.returncode == 2, "--digest abc is a usage error")
    sums = os.path.join(TMP, "outside.SHA256SUMS")
    shutil.copy(os.path.join(d, "SHA256SUMS"), sums)
    for t in (a, d):
        r = run(["verify", t, "--sums", sums])
        check(r.returncode == 0 and f"against {sums} ({len(read_dir(d)) - 1} entries): match" in out(r),
              f"--sums match on {t}: {out(r)}")
    # a tampered file with SHA256SUMS and index.json rewritten to match: passes alone, not anchored
    files = read_dir(d)
    emb = bytearray(files["embeddings.bin"])
    emb[100] ^= 0x01
    files["embeddings.bin"] = bytes(emb)
    idx = json.loads(files["index.json"])
    idx["files"]["embeddings.bin"]["xxh3"] = "%016x" % XXH.XXH3_64bits(files["embeddings.bin"], len(emb))
    idx["files"]["embeddings.bin"]["sha256"] = sha(files["embeddings.bin"])
    files["index.json"] = json.dumps(idx, indent=2).encode()
    man = json.loads(files["manifest.json"])
    man["content_digest"] = digest_of(files)  # what a careful forger rewrites too
    files["manifest.json"] = json.dumps(man).encode()
    files["SHA256SUMS"] = "".join(f"{sha(files[n])}  {n}\n" for n in sorted(files) if n != "SHA256SUMS").encode()
    t = os.path.join(TMP, "tampered.vindex")
    os.makedirs(t)
    for n, b in files.items():
        open(os.path.join(t, n), "wb").write(b)
    ta = os.path.join(TMP, "tampered.tar.zst")
    r = run(["pack", t, "-o", ta])
    check(r.returncode == 0, f"pack of the consistently tampered vindex: {out(r)}")
    for target in (t, ta):
        r = run(["verify", target])
        check(r.returncode == 0, f"the tampered vindex passes without an anchor ({target}): {out(r)}")
        r = run(["verify", target, "--digest", want])
        check(r.returncode == 1 and "MISMATCH" in out(r), f"--digest catches the tampering ({target}): {out(r)}")
        r = run(["verify", target, "--sums", sums])
        check(r.returncode == 1 and "embeddings.bin: SHA-256" in out(r) and "index.json: SHA-256" in out(r),
              f"--sums names the tampered files ({target}): {out(r)}")
    # pack refuses a vindex whose files do not match SHA256SUMS, or with a stray file
    bad = os.path.join(TMP, "bad.vindex")
    shutil.copytree(d, bad)
    with open(os.path.join(bad, "norms.bin"), "r+b") as f:
        f.seek(5)
        c = f.read(1)
        f.seek(5)
        f.write(bytes([c[0] ^ 0x40]))
    r = run(["pack", bad, "-o", os.path.join(TMP, "bad.tar.zst")])
    check(r.returncode == 1 and "norms.bin: SHA-256" in out(r) and not os.path.exists(os.path.join(TMP, "bad.tar.zst"))
          and no_leftovers(TMP, "bad.tar.zst"), f"pack of a damaged vindex: {out(r)}")
    shutil.rmtree(bad)
    shutil.copytree(d, bad)
    open(os.path.join(bad, "notes.txt"), "w").write("x")
    r = run(["pack", bad, "-o", os.path.join(TMP, "bad.tar.zst")])
    check(r.returncode == 1 and "notes.txt" in out(r), f"pack with a stray file: {out(r)}")


# -------------------------------------------------------------- 3. the hostile battery

def hostile(d):
    files = read_dir(d)
    FILES = order_of(files)
    good_tar = tar_of(files, FILES)
    parent = os.path.join(TMP, "hostile")
    os.makedirs(parent)
    existing = os.path.join(parent, "existing")
    os.makedirs(existing)
    open(os.path.join(existing, "sentinel"), "w").write("keep me")
    n = [0]

    def case(label, data, expect, unpack_expect=None):
        """verify and unpack must refuse `data`, naming `expect` (all substrings; unpack stops
        at the first problem, so it may name fewer: `unpack_expect`)."""
        n[0] += 1
        p = os.path.join(parent, f"case{n[0]}.tar.zst")
        open(p, "wb").write(data)
        r = run(["verify", p])
        text = out(r)
        check(r.returncode == 1 and all(e in text for e in expect), f"hostile '{label}': verify exit {r.returncode}, "
              f"expected {expect}: {text[-400:]!r}")
        tgt = os.path.join(parent, "out")
        r = run(["unpack", p, "-o", tgt])
        text = out(r)
        ue = unpack_expect or expect
        check(r.returncode == 1 and all(e in text for e in ue), f"hostile '{label}': unpack exit {r.returncode}, "
              f"expected {ue}: {text[-400:]!r}")
        check(not os.path.exists(tgt) and no_leftovers(parent, "out"), f"hostile '{label}': unpack left files behind")
        r = run(["unpack", p, "-o", existing, "--force"])
        check(r.returncode == 1 and os.listdir(existing) == ["sentinel"] and no_leftovers(parent, "existing"),
              f"hostile '{label}': an existing directory was touched")

    comp = zstd(good_tar)
    # zstd truncations at every boundary class, and a frame boundary inside the tar
    case("empty input", b"", ["empty input"])
    case("cut in the frame header", comp[:3], ["truncated", "compressed byte"])
    case("cut in a block", comp[:len(comp) // 2], ["truncated", "compressed byte"])
    case("cut before the checksum", comp[:-4], ["truncated", "compressed byte"])
    case("last byte missing", comp[:-1], ["truncated", "compressed byte"])
    half = 512 * 5
    two = zstd(good_tar[:half]) + zstd(good_tar[half:])
    case("two frames, the second missing", two[:len(zstd(good_tar[:half]))], ["tar: truncated", "offset 2560"])
    check(run(["verify", os.path.join(parent, "x")]).returncode == 1, "a missing archive is a failure")
    # tar truncations (a complete zstd frame of a cut tar)
    hdr2 = 512 + ((len(files["SHA256SUMS"]) + 511) // 512) * 512
    for label, at, want in [("in a header", hdr2 + 100, "inside a header block"),
                            ("in member data", hdr2 + 512 + 10, "inside member x.vindex/index.json"),
                            ("in padding", 512 + len(files["SHA256SUMS"]) + 1, "inside a member's padding"),
                            ("before the end marker", body_len(files, FILES), "after a member"),
                            ("between the end blocks", body_len(files, FILES) + 512, "one end-of-archive block of two")]:
        case(f"tar cut {label}", zstd(good_tar[:at]), ["tar: truncated", want])
    # flipped bytes: compressed positions, then uncompressed (header, data, padding, end)
    for pos in (0, 6, len(comp) // 3, len(comp) - 2):
        c = bytearray(comp)
        c[pos] ^= 0x55
        case(f"compressed byte {pos} flipped", bytes(c), ["compressed byte"] if pos < len(comp) - 4 else ["zstd"])
    t = bytearray(good_tar)
    t[hdr2 + 10] ^= 1
    case("tar header byte flipped", zstd(bytes(t)), ["checksum", f"offset {hdr2}"])
    t = bytearray(good_tar)
    off = good_tar.index(files["gate_vectors.bin"][:64])
    t[off + 1000] ^= 0x10
    case("member data byte flipped", zstd(bytes(t)), ["gate_vectors.bin", "SHA-256 mismatch"])
    t = bytearray(good_tar)
    t[512 + len(files["SHA256SUMS"]) + 3] = 7
    case("padding byte flipped", zstd(bytes(t)), ["non-zero padding", "SHA256SUMS"])
    t = bytearray(good_tar)
    t[len(good_tar) - 100] = 9
    case("byte after the end marker", zstd(bytes(t)), ["after the end-of-archive marker", f"offset {len(good_tar) - 100}"])
    # each tar attack
    def attack(members, fmt=tarfile.GNU_FORMAT):
        b = io.BytesIO()
        with tarfile.open(fileobj=b, mode="w", format=fmt) as tf:
            for m in members:
                ti, data = m
                tf.addfile(ti, io.BytesIO(data) if data is not None else None)
        return zstd(b.getvalue())

    def reg(name, data):
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        return (ti, data)

    def special(name, typ, link=""):
        ti = tarfile.TarInfo(name)
        ti.type = typ
        ti.linkname = link
        return (ti, None)

    base = [reg("x.vindex/" + f, files[f]) for f in FILES[:2]]
    case("absolute path", attack(base + [reg("/etc/x.vindex/norms.bin", files["norms.bin"])]), ["unsafe path", "/etc/x.vindex/norms.bin"])
    case("dot-dot path", attack(base + [reg("x.vindex/../norms.bin", files["norms.bin"])]), ["unsafe path", "../norms.bin"])
    case("leading dot-dot", attack([reg("../x/SHA256SUMS", files["SHA256SUMS"])]), ["unsafe path"])
    case("symlink", attack(base + [special("x.vindex/norms.bin", tarfile.SYMTYPE, "/etc/passwd")]), ["a link", "offset"])
    case("hard link", attack(base + [special("x.vindex/norms.bin", tarfile.LNKTYPE, "x.vindex/index.json")]), ["a link"])
    case("char device", attack(base + [special("x.vindex/norms.bin", tarfile.CHRTYPE)]), ["a device"])
    case("block device", attack(base + [special("x.vindex/norms.bin", tarfile.BLKTYPE)]), ["a device"])
    case("FIFO", attack(base + [special("x.vindex/norms.bin", tarfile.FIFOTYPE)]), ["a FIFO"])
    case("duplicate member", attack(base + [reg("x.vindex/index.json", files["index.json"])]), ["index.json", "a second copy"])
    case("unexpected member", attack(base + [reg("x.vindex/run.sh", b"rm -rf ~\n")]), ["run.sh", "not a file of a vindex"])
    case("another directory", attack(base + [reg("y.vindex/norms.bin", files["norms.bin"])]), ["y.vindex", "x.vindex"])
    case("two directories", attack([special("a/", tarfile.DIRTYPE), special("b/", tarfile.DIRTYPE)]), ["a second directory"])
    sp = tarfile.TarInfo("x.vindex/norms.bin")
    sp.size = 4
    sp.pax_headers = {"GNU.sparse.map": "0,4"}
    case("sparse pax member", attack(base + [(sp, b"abcd")], tarfile.PAX_FORMAT), ["sparse"])
    case("missing members", attack(base), ["manifest.json: missing from the archive"])
    # bombs: a declared size beyond index.json's, beyond the cap before index.json, endless zeros
    big = tarfile.TarInfo("x.vindex/embeddings.bin")
    big.size = 1 << 36
    raw = tar_of(files, FILES[:2])[:body_len(files, FILES[:2])]
    t0 = time.time()
    case("declared size beyond index.json", zstd(raw + big.tobuf(tarfile.GNU_FORMAT) + bytes(1 << 20)),
         ["embeddings.bin", "declares 68719476736 bytes, index.json says"])
    big.size = 1 << 41
    case("declared size beyond the cap", zstd(big.tobuf(tarfile.GNU_FORMAT) + bytes(1 << 20)),
         ["embeddings.bin", "more than the 1099511627776 accepted before index.json"])
    big = tarfile.TarInfo("x.vindex/index.json")
    big.size = 1 << 30
    case("index.json over its cap", zstd(big.tobuf(tarfile.GNU_FORMAT) + bytes(1 << 20)), ["index.json", "more than the 67108864"])
    zeros = subprocess.run("head -c 268435456 /dev/zero | zstd -q -c -3", shell=True, capture_output=True).stdout
    case("256 MiB of zeros after the end", comp + zeros, ["zeros after the end-of-archive marker"])
    # a consistent index.json for a vindex too large for any disk: refused before writing
    idx = json.loads(files["index.json"])
    V, H = 1 << 24, idx["hidden_size"]
    idx["vocab_size"] = V
    idx["files"]["embeddings.bin"]["bytes"] = V * H * 2
    idx["files"]["embeddings.bin"]["shape"] = [V, H]
    ib = json.dumps(idx).encode()
    huge = dict(files, **{"index.json": ib})
    raw = tar_of(huge, FILES[:2])[:body_len(huge, FILES[:2])]
    p = os.path.join(parent, "space.tar.zst")
    e = tarfile.TarInfo("x.vindex/embeddings.bin")
    e.size = V * H * 2
    open(p, "wb").write(zstd(raw + e.tobuf(tarfile.GNU_FORMAT) + bytes(4096)))
    if V * H * 2 > shutil.disk_usage(parent).free:
        r = run(["unpack", p, "-o", os.path.join(parent, "space")])
        check(r.returncode == 1 and "are free where it would be unpacked" in out(r) and not os.path.exists(os.path.join(parent, "space"))
              and no_leftovers(parent, "space"), f"a vindex larger than the free space: {out(r)}")
    check(time.time() - t0 < 120, "the bombs were refused early")
    # a swapped member (same size, other content) and a wrong digest
    sw = dict(files)
    sw["gate_vectors.bin"], sw["down_features.bin"] = files["down_features.bin"], files["gate_vectors.bin"]
    case("swapped members", zstd(tar_of(sw, FILES)), ["gate_vectors.bin: SHA-256 mismatch", "down_features.bin: SHA-256 mismatch"],
         ["gate_vectors.bin: SHA-256 mismatch"])
    p = os.path.join(parent, "good.tar.zst")
    open(p, "wb").write(comp)
    r = run(["verify", p, "--digest", "f" * 64])
    check(r.returncode == 1 and "content digest: computed" in out(r) and "f" * 64 in out(r), f"wrong digest: {out(r)}")
    # structure a stream can check: a non-unit direction with SHA256SUMS and XXH3 made consistent
    st = dict(files)
    g = bytearray(st["gate_vectors.bin"])
    g[0:2] = b"\x00\x7c"  # +Inf in layer 0 feature 0
    st["gate_vectors.bin"] = bytes(g)
    idx = json.loads(st["index.json"])
    idx["files"]["gate_vectors.bin"]["xxh3"] = "%016x" % XXH.XXH3_64bits(st["gate_vectors.bin"], len(g))
    idx["files"]["gate_vectors.bin"]["sha256"] = sha(st["gate_vectors.bin"])
    st["index.json"] = json.dumps(idx).encode()
    st["SHA256SUMS"] = "".join(f"{sha(st[k])}  {k}\n" for k in sorted(st) if k != "SHA256SUMS").encode()
    case("an Inf in a direction", zstd(tar_of(st, FILES)), ["gate_vectors.bin: 1 NaN/Inf values"])
    g[0:2] = b"\x00\x00"
    g[2:4] = b"\x00\xbc"  # -1.0: the largest entry of direction 0 negative
    st["gate_vectors.bin"] = bytes(g)
    idx["files"]["gate_vectors.bin"]["xxh3"] = "%016x" % XXH.XXH3_64bits(st["gate_vectors.bin"], len(g))
    idx["files"]["gate_vectors.bin"]["sha256"] = sha(st["gate_vectors.bin"])
    st["index.json"] = json.dumps(idx).encode()
    st["SHA256SUMS"] = "".join(f"{sha(st[k])}  {k}\n" for k in sorted(st) if k != "SHA256SUMS").encode()
    case("a bad direction", zstd(tar_of(st, FILES)), ["gate_vectors.bin: 1 directions", "layer 0 feature 0"])
    # GNU order: the rows of a direction file that comes before index.json (A-V6)
    late = [f for f in FILES if f not in ("index.json", "SHA256SUMS", "down_meta.bin", "gate_vectors.bin")]
    case("a bad direction, down_meta.bin first, index.json last",
         zstd(tar_of(st, ["down_meta.bin", "gate_vectors.bin"] + late + ["SHA256SUMS", "index.json"])),
         ["gate_vectors.bin: 1 directions", "layer 0 feature 0"])
    pl = os.path.join(parent, "late.tar.zst")
    st = resign(st)
    open(pl, "wb").write(zstd(tar_of(st, ["gate_vectors.bin", "down_meta.bin"] + late + ["SHA256SUMS", "index.json"])))
    r = run(["verify", pl])
    check(r.returncode == 0 and "checked in aggregate" in out(r),
          f"a sign flip in a direction that came first passes the aggregate check, and verify says so: {out(r)}")
    g[2:4] = b"\x00\x48"  # 8.0: far from unit length
    st["gate_vectors.bin"] = bytes(g)
    idx["files"]["gate_vectors.bin"]["xxh3"] = "%016x" % XXH.XXH3_64bits(st["gate_vectors.bin"], len(g))
    idx["files"]["gate_vectors.bin"]["sha256"] = sha(st["gate_vectors.bin"])
    st["index.json"] = json.dumps(idx).encode()
    st["SHA256SUMS"] = "".join(f"{sha(st[k])}  {k}\n" for k in sorted(st) if k != "SHA256SUMS").encode()
    case("a long direction that came first", zstd(tar_of(st, ["gate_vectors.bin"] + late + ["SHA256SUMS", "index.json", "down_meta.bin"])),
         ["gate_vectors.bin: the squared norms", "checked in aggregate"])
    dm = bytearray(files["down_meta.bin"])
    dm[32:36] = (1 << 30).to_bytes(4, "little")  # token id >= V in record 0
    st = dict(files, **{"down_meta.bin": bytes(dm)})
    idx = json.loads(st["index.json"])
    idx["files"]["down_meta.bin"]["xxh3"] = "%016x" % XXH.XXH3_64bits(st["down_meta.bin"], len(dm))
    idx["files"]["down_meta.bin"]["sha256"] = sha(st["down_meta.bin"])
    st["index.json"] = json.dumps(idx).encode()
    st["SHA256SUMS"] = "".join(f"{sha(st[k])}  {k}\n" for k in sorted(st) if k != "SHA256SUMS").encode()
    case("a bad down_meta record", zstd(tar_of(st, FILES)), ["down_meta.bin", "record 0", "layer 0, gate, feature 0"])
    # the same, index.json last (GNU order): checked from constant state when it arrives
    case("a bad down_meta record, index.json last", zstd(tar_of(st, FILES[2:] + FILES[:2])), ["down_meta.bin: token id 1073741824"])
    # §9 members: one index.json does not list, one it lists that is missing, a negative spectrum value
    def consistent(st, changed):
        idx = json.loads(st["index.json"])
        for k in changed:
            if k in idx["files"]:
                idx["files"][k]["xxh3"] = "%016x" % XXH.XXH3_64bits(st[k], len(st[k]))
                idx["files"][k]["sha256"] = sha(st[k])
        st["index.json"] = json.dumps(idx).encode()
        st["SHA256SUMS"] = "".join(f"{sha(st[k])}  {k}\n" for k in sorted(st) if k != "SHA256SUMS").encode()
        return st

    if "moments.bin" in files:
        st = dict(files)
        idx = json.loads(st["index.json"])
        for k in ("spectra.bin", "neurons.bin", "moments.bin"):
            del idx["files"][k]
        for layer in idx["layers"]:  # a version-2 index.json without the battery
            layer.pop("neurons", None)
            layer.pop("weights", None)
        st["index.json"] = json.dumps(idx).encode()
        st = consistent(st, [])
        case("§9 members index.json does not list", zstd(tar_of(st, FILES)),
             ["spectra.bin", "index.json's files table does not list it"])
        st = dict(files)
        case("a §9 file index.json lists, missing", zstd(tar_of(st, [f for f in FILES if f != "moments.bin"])),
             ["moments.bin: listed in index.json, missing from the archive"])
    if "spectra.bin" in files:
        sp = bytearray(files["spectra.bin"])
        sp[0:4] = b"\x00\x00\x80\xbf"  # -1.0f
        st = consistent(dict(files, **{"spectra.bin": bytes(sp)}), ["spectra.bin"])
        case("a negative singular value", zstd(tar_of(st, FILES)), ["spectra.bin: 1 negative values"])
    man = json.loads(files["manifest.json"])
    if "content_digest" in man:
        man["content_digest"] = "0" * 64
        st = dict(files, **{"manifest.json": json.dumps(man).encode()})
        st["SHA256SUMS"] = "".join(f"{sha(st[k])}  {k}\n" for k in sorted(st) if k != "SHA256SUMS").encode()
        case("manifest.json's content_digest is not the members'", zstd(tar_of(st, FILES)),
             ["manifest.json: content_digest 0000", "but the members hash to"])
    # unpack from a pipe needs index.json before the sized members
    r = run(["unpack", "-", "-o", os.path.join(parent, "pipe")], inp=zstd(tar_of(files, FILES[::-1])))
    check(r.returncode == 1 and "comes before index.json" in out(r) and not os.path.exists(os.path.join(parent, "pipe")),
          f"unpack from a pipe, out of order: {out(r)}")
    r = run(["unpack", "-", "-o", os.path.join(parent, "pipe")], inp=comp)
    check(r.returncode == 0 and read_dir(os.path.join(parent, "pipe")) == files, f"unpack from a pipe: {out(r)}")
    r = run(["unpack", p, "-o", existing])
    check(r.returncode == 1 and "already exists" in out(r) and os.listdir(existing) == ["sentinel"], "unpack onto an existing dir")
    r = run(["unpack", p, "-o", existing, "--force"])
    check(r.returncode == 0 and read_dir(existing) == files and no_leftovers(parent, "existing"), f"unpack --force: {out(r)}")
    # what a killed unpack left beside DIR is removed by the next one
    stale = os.path.join(parent, ".fresh.vxtmp.4194000")
    os.makedirs(stale)
    open(os.path.join(stale, "embeddings.bin"), "w").write("partial")
    r = run(["unpack", p, "-o", os.path.join(parent, "fresh")])
    check(r.returncode == 0 and not os.path.exists(stale) and no_leftovers(parent, "fresh"), f"stale temporary directory: {out(r)}")
    print(f"hostile battery: {n[0]} archives, each refused by verify and unpack")


# -------------------------------------------------------------------- 4. the HF cache

def git_sha1(b):
    return hashlib.sha1(b"blob %d\0" % len(b) + b).hexdigest()


def hf_cache(d, want):
    hub = os.path.join(TMP, "hub")
    repo = os.path.join(hub, "models--org--tiny-vindex")
    snap = os.path.join(repo, "snapshots", "c0ffee")
    os.makedirs(snap)
    os.makedirs(os.path.join(repo, "blobs"))
    os.makedirs(os.path.join(repo, "refs"))
    open(os.path.join(repo, "refs", "main"), "w").write("c0ffee\n")
    files = read_dir(d)
    for n, b in files.items():
        blob = sha(b) if n.endswith(".bin") or n == "tokenizer.json" else git_sha1(b)
        open(os.path.join(repo, "blobs", blob), "wb").write(b)
        os.symlink(os.path.join("..", "..", "blobs", blob), os.path.join(snap, n))
    env = dict(os.environ, HF_HUB_CACHE=hub)
    r = subprocess.run([VINDEX, "verify", "org/tiny-vindex"], capture_output=True, env=env)
    check(r.returncode == 0 and f"{len(files)} blob names checked" in out(r) and digest_line(r) == want, f"HF cache: {out(r)}")
    r = subprocess.run([VINDEX, "verify", "org/tiny-vindex", "--revision", "c0ffee", "--digest", want], capture_output=True, env=env)
    check(r.returncode == 0 and "match" in out(r), f"HF cache by snapshot name, anchored: {out(r)}")
    r = subprocess.run([VINDEX, "verify", "org/other"], capture_output=True, env=env)
    check(r.returncode == 1 and "models--org--other" in out(r), f"HF cache: unknown repo: {out(r)}")
    # a blob whose name is not its content's hash: the content is consistent, the name is not
    os.remove(os.path.join(snap, "norms.bin"))
    wrongname = "ab" * 32
    shutil.copy(os.path.join(d, "norms.bin"), os.path.join(repo, "blobs", wrongname))
    os.symlink(os.path.join("..", "..", "blobs", wrongname), os.path.join(snap, "norms.bin"))
    r = subprocess.run([VINDEX, "verify", "org/tiny-vindex"], capture_output=True, env=env)
    check(r.returncode == 1 and f"norms.bin: blob name {wrongname}" in out(r), f"HF cache: a misnamed blob: {out(r)}")
    # a git-named blob with other content
    os.remove(os.path.join(snap, "manifest.json"))
    bad = git_sha1(b"something else")
    shutil.copy(os.path.join(d, "manifest.json"), os.path.join(repo, "blobs", bad))
    os.symlink(os.path.join("..", "..", "blobs", bad), os.path.join(snap, "manifest.json"))
    r = subprocess.run([VINDEX, "verify", "org/tiny-vindex"], capture_output=True, env=env)
    check(r.returncode == 1 and "manifest.json: blob name" in out(r), f"HF cache: a misnamed git blob: {out(r)}")
    # a link out of the cache
    os.remove(os.path.join(snap, "manifest.json"))
    os.symlink(os.path.join(d, "manifest.json"), os.path.join(snap, "manifest.json"))
    r = subprocess.run([VINDEX, "verify", "org/tiny-vindex"], capture_output=True, env=env)
    check(r.returncode == 1 and "manifest.json: a link that does not lead to a file in" in out(r), f"HF cache: a link outside: {out(r)}")


def main():
    try:
        vx = fixtures()
        first = None
        for fx, d in vx.items():
            res = roundtrip(fx, d)
            if res and not first:
                first = (d,) + res
        if first:
            d, a, want = first
            anchors(d, a, want)
            hostile(d)
            hf_cache(d, want)
        r = run(["pack", "--help"])
        check(r.returncode == 0 and b"usage: vindex pack" in r.stdout, "pack --help")
        r = run(["unpack", "--help"])
        check(r.returncode == 0 and b"usage: vindex unpack" in r.stdout, "unpack --help")
        r = run(["pack"])
        check(r.returncode == 2, "pack without a vindex is a usage error")
        r = run(["unpack", "-"])
        check(r.returncode == 2, "unpack - without -o is a usage error")
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
