"""Shared pieces of the Python tests: where the build is ($BUILD, relative to the
repository or absolute), the fixtures, and the check/summary protocol every test program
follows ("N passed, N failed" as the last line; exit 1 on any failure)."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", "build")
BDIR = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
VINDEX = os.path.join(BDIR, "vindex")
FIX = os.path.join(ROOT, "tests", "fixtures")

_count = {"passed": 0, "failed": 0}


def asan_runtime(lib):
    """The sanitizer runtime a sanitizer build of shared library `lib` needs preloaded into
    a program that was not built with it (python, a test program), or None."""
    ldd = subprocess.run(["ldd", lib], capture_output=True, text=True).stdout
    m = re.search(r"(\S*libasan\.so[.\d]*) => (\S+)", ldd)
    if m:
        return m.group(2)
    if subprocess.run(["sh", "-c", f"nm -D '{lib}' | grep -q ' U __asan_init'"]).returncode == 0:
        return subprocess.run(["clang", "-print-file-name=libclang_rt.asan-x86_64.so"], capture_output=True,
                              text=True).stdout.strip()
    return None


def reexec_with(lib):
    """Run this test program again with VINDEX_LIB=lib and, when `lib` is a sanitizer build,
    its runtime preloaded into python (ctypes can load such a library only then). Returns
    in the re-executed process, where VX_PY_CHILD is set."""
    if os.environ.get("VX_PY_CHILD"):
        return
    env = dict(os.environ, VX_PY_CHILD="1", VINDEX_LIB=lib)
    rt = asan_runtime(lib)
    if rt:
        env["LD_PRELOAD"] = rt
        env["ASAN_OPTIONS"] = "detect_leaks=0"
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def bytes_to_unicode():
    """GPT-2's byte-level alphabet: byte -> the character a byte-level vocabulary writes it
    as (printable bytes stand for themselves, the rest are shifted past U+0100)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def cpu_bf16():
    """The CPU runs AVX-512 BF16 (with F, BW, VL), as src/kern.c's vx_cpu_bf16 asks."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return {"avx512f", "avx512bw", "avx512vl", "avx512_bf16"} <= set(line.split(":", 1)[1].split())
    return False


def check(cond, msg):
    """Count one check; print msg on failure. Returns cond as a bool."""
    if cond:
        _count["passed"] += 1
    else:
        _count["failed"] += 1
        print("FAIL:", msg, file=sys.stderr)
    return bool(cond)


def failures():
    return _count["failed"]


def finish():
    """Print the summary line and exit with the status it implies."""
    print(f"{_count['passed']} passed, {_count['failed']} failed")
    sys.exit(1 if _count["failed"] else 0)
