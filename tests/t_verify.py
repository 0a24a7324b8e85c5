#!/usr/bin/python3
"""`vindex verify` reads each mapped file once for both its XXH3 and its structural scan:
a byte flipped in any data file is reported exactly once per hash (one XXH3 line, one
SHA-256 line), a NaN written into an f16 array is counted by the fused pass, and files the
scan does not map (tokenizer.json) still get their XXH3 checked. On tiny-llama extracted
with --unembed (every optional file present). Prints "N passed, N failed"."""
import os
import shutil
import subprocess
import tempfile

from vxtest import FIX, VINDEX, check, finish

FILES = ["gate_vectors.bin", "down_features.bin", "embeddings.bin", "unembed.bin", "down_meta.bin", "norms.bin",
         "vocab.bin", "spectra.bin", "neurons.bin", "moments.bin", "tokenizer.json"]


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
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
