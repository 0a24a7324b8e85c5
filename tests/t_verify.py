#!/usr/bin/python3
"""`vindex verify` reads each mapped file once for both its XXH3 and its structural scan:
a byte flipped in any data file is reported exactly once per hash (one XXH3 line, one
SHA-256 line), a NaN written into an f16 array is counted by the fused pass, and files the
scan does not map (tokenizer.json) still get their XXH3 checked. On tiny-llama extracted
with --unembed (every optional file present). The direction checks (R-E1 unit length,
R-E3 sign on the first largest magnitude): a negated row, a row scaled by 1.5, and ties
between a positive and a negative largest entry in either order are reported or not, named
by layer and feature — also with the largest entry past the last whole group of eight
(H = 60, from tools/mkvindex). A FIFO in a file's place is reported, not waited on.
Prints "N passed, N failed"."""
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

from vxtest import BDIR, FIX, VINDEX, check, finish

FILES = ["gate_vectors.bin", "down_features.bin", "embeddings.bin", "unembed.bin", "down_meta.bin", "norms.bin",
         "vocab.bin", "spectra.bin", "neurons.bin", "moments.bin", "tokenizer.json"]


def fifos(tmp, base):
    """A FIFO in a file's place (a hostile or half-copied directory) is reported as not a
    regular file, by verify and by the commands that open a vindex — never waited on: an
    open of a FIFO blocks until a writer comes, so before the checks each command hung."""
    for f in ("index.json", "SHA256SUMS", "manifest.json", "tokenizer.json", "vocab.bin", "embeddings.bin", "norms.bin"):
        d = os.path.join(tmp, "fifo-" + f)
        shutil.copytree(base, d)
        os.unlink(os.path.join(d, f))
        os.mkfifo(os.path.join(d, f))
        for cmd in (["verify", d], ["verify", "--whole-files", d], ["info", d]):
            try:
                r = subprocess.run([VINDEX] + cmd, capture_output=True, text=True, timeout=30)
                out, rc = r.stdout + r.stderr, r.returncode
            except subprocess.TimeoutExpired:
                out, rc = "(timed out: the open waited on the FIFO)", None
            named = f + ": not a regular file" in out
            if cmd[0] == "info" and f in ("SHA256SUMS", "manifest.json", "tokenizer.json"):
                check(rc == 0, f"{f} as a FIFO: info does not read it: exit {rc}: {out[-300:]}")
            else:
                check(rc == 1 and named, f"{f} as a FIFO: {' '.join(cmd[:-1])}: exit {rc}, named: {out[-300:]}")


def main():
    tmp = tempfile.mkdtemp(prefix="vx-verify-")
    try:
        base = os.path.join(tmp, "base")
        r = subprocess.run([VINDEX, "extract", os.path.join(FIX, "tiny-llama"), "-o", base, "--unembed"], capture_output=True)
        check(r.returncode == 0, f"extract: {r.stderr}")
        r = subprocess.run([VINDEX, "verify", base], capture_output=True, text=True)
        check(r.returncode == 0, f"clean vindex verifies: {r.stdout}{r.stderr}")
        for f in FILES:
            d = os.path.join(tmp, "flip-" + f)
            shutil.copytree(base, d)
            p = os.path.join(d, f)
            b = bytearray(open(p, "rb").read())
            at = len(b) // 2 if not f.endswith(".json") else b.rfind(b"a")
            b[at] ^= 0x01 if f.endswith(".json") else 0x40
            open(p, "wb").write(bytes(b))
            r = subprocess.run([VINDEX, "verify", d], capture_output=True, text=True)
            out = r.stdout + r.stderr
            xx = [l for l in out.splitlines() if f in l and "XXH3" in l]
            sh = [l for l in out.splitlines() if f in l and "SHA-256" in l]
            check(r.returncode == 1, f"{f}: flipped byte: exit {r.returncode}")
            check(len(xx) == 1, f"{f}: {len(xx)} XXH3 lines: {xx}")
            check(len(sh) == 1, f"{f}: {len(sh)} SHA-256 lines: {sh}")
        for f in ("embeddings.bin", "unembed.bin", "gate_vectors.bin"):
            d = os.path.join(tmp, "nan-" + f)
            shutil.copytree(base, d)
            p = os.path.join(d, f)
            b = bytearray(open(p, "rb").read())
            for k in range(3):
                o = (len(b) // 4 + 2 * k * 997) & ~1
                b[o:o + 2] = b"\x00\x7e"  # f16 NaN
            open(p, "wb").write(bytes(b))
            r = subprocess.run([VINDEX, "verify", d], capture_output=True, text=True)
            out = r.stdout + r.stderr
            check(any(f in l and "3 NaN/Inf values" in l for l in out.splitlines()), f"{f}: NaN count: {out}")
        fifos(tmp, base)
        directions(tmp, base)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


def direction_lines(tmp, base, name, fn):
    """verify's direction lines after fn(rows [L*F, H] float32) rewrote gate_vectors.bin."""
    d = os.path.join(tmp, name)
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(base, d)
    idx = json.load(open(os.path.join(d, "index.json")))
    H = idx["hidden_size"]
    p = os.path.join(d, "gate_vectors.bin")
    rows = np.fromfile(p, dtype="<f2").astype(np.float32).reshape(-1, H)
    fn(rows)
    rows.astype("<f2").tofile(p)
    r = subprocess.run([VINDEX, "verify", d], capture_output=True, text=True)
    return [l for l in r.stdout.splitlines() if l.startswith("gate_vectors.bin:") and "directions" in l], idx["num_feats"]


def tie(row, first, second, sign_first):
    """Unit row whose largest magnitude is at `first` and `second` (equal), signs given."""
    row[:] = 0.01
    row[first], row[second] = sign_first * 0.5, -sign_first * 0.5
    row /= np.linalg.norm(row)


def directions(tmp, base):
    narrow = os.path.join(tmp, "h60")
    r = subprocess.run([os.path.join(BDIR, "tools", "mkvindex"), narrow, "--layers", "2", "--feats", "4", "--hidden", "60",
                        "--vocab", "600"], capture_output=True, text=True)
    check(r.returncode == 0, f"mkvindex --hidden 60: {r.stderr}")
    for vx, last in ((base, None), (narrow, 59)):
        H = json.load(open(os.path.join(vx, "index.json")))["hidden_size"]
        far = H - 1 if last is None else last  # with H = 60 the tail past 56 values
        cases = [
            ("negated", 5, lambda rows: rows.__setitem__(5, -rows[5]), True),
            ("scaled", 6, lambda rows: rows.__setitem__(6, rows[6] * 1.5), True),
            ("tie, positive first", 3, lambda rows: tie(rows[3], 1, far, 1), False),
            ("tie, negative first", 3, lambda rows: tie(rows[3], 1, far, -1), True),
            ("tie in the tail, negative first", 2, lambda rows: tie(rows[2], far - 1, far, -1), True),
        ]
        for what, row, fn, bad in cases:
            lines, F = direction_lines(tmp, vx, "dir", fn)
            want = f"(first: layer {row // F} feature {row % F})"
            check((len(lines) == 1 and "1 directions" in lines[0] and want in lines[0]) if bad else not lines,
                  f"H={H}: {what}: {lines}")



if __name__ == "__main__":
    main()
