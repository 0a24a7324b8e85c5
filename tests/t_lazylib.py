"""libcrypto, OpenBLAS, LAPACKE, libzstd and libm are loaded on first use
(format/lazylib.h): a query that neither hashes, calls BLAS, reads an archive nor takes a
logarithm never loads them, commands that do load them once, and
the CLI's OpenBLAS tuning takes effect without re-executing the process. xxHash and
utf8proc are linked into the command from their archives, so a query maps neither."""
import os
import subprocess
import tempfile

from vxtest import FIX, VINDEX, check, finish

# A sanitizer's runtime (make asan) links libm itself, so there libm's laziness cannot show.
SANITIZED = b"__asan_init" in open(VINDEX, "rb").read()
LAZY = ("libopenblas.so", "liblapacke.so", "libcrypto.so", "libzstd.so") + (() if SANITIZED else ("libm.so",))


def loaded(args, extra_env=None):
    """Shared objects the dynamic loader opened while running vindex ARGS."""
    env = dict(os.environ, LD_DEBUG="files")
    env.update(extra_env or {})
    p = subprocess.run([VINDEX] + args, capture_output=True, env=env, text=True)
    libs = set()
    for line in p.stderr.splitlines():
        if "file=" in line and ("needed by" in line or "dynamically loaded" in line):
            libs.add(line.split("file=")[1].split()[0])
    return p, libs


def has(libs, stem):
    return any(l.startswith(stem) for l in libs)


with tempfile.TemporaryDirectory() as tmp:
    a, b = os.path.join(tmp, "a.vx"), os.path.join(tmp, "b.vx")
    for src, out in (("tiny-llama", a), ("tiny-qwen3", b)):
        p = subprocess.run([VINDEX, "extract", os.path.join(FIX, src), "-o", out], capture_output=True, text=True)
        check(p.returncode == 0, f"extract {src}: {p.stderr}")

    # Queries that call neither BLAS nor SHA-256 nor zstd nor libm.
    for args in (["score", a, " Paris", "--json"], ["nearest", a, "--token", " Paris", "--json"],
                 ["describe", a, "1:2:down", "--json"], ["info", a], ["--help"]):
        p, libs = loaded(args)
        check(p.returncode == 0, f"{args}: exit {p.returncode}")
        for stem in LAZY:
            check(not has(libs, stem), f"{args[0]} loaded {stem}: {sorted(libs)}")

    # The command carries xxHash and utf8proc from their archives when the system has them
    # (Makefile, CLI_STATIC): a query process maps no shared object for them.
    for lib in ("xxhash", "utf8proc"):
        cc = subprocess.run(["cc", f"-print-file-name=lib{lib}.a"], capture_output=True, text=True).stdout.strip()
        if os.path.isabs(cc) and os.path.exists(cc):
            p, libs = loaded(["score", a, " Paris", "--json"])
            check(not has(libs, f"lib{lib}.so"), f"score maps lib{lib}.so although lib{lib}.a exists: {sorted(libs)}")

    # verify hashes: libcrypto, and only it.
    p, libs = loaded(["verify", a])
    check(p.returncode == 0, "verify exit 0")
    check(has(libs, "libcrypto.so"), "verify loads libcrypto")
    check(not has(libs, "libopenblas.so"), "verify does not load OpenBLAS")
    check(not has(libs, "libzstd.so"), "verify of a directory does not load libzstd")

    # An archive: pack compresses and verify decompresses with libzstd, loaded on demand.
    arch = os.path.join(tmp, "a.vindex.tar.zst")
    p, libs = loaded(["pack", a, "-o", arch])
    check(p.returncode == 0, f"pack exit 0: {p.stderr[-300:]}")
    check(has(libs, "libzstd.so"), f"pack loads libzstd: {sorted(libs)}")
    p, libs = loaded(["verify", arch])
    check(p.returncode == 0, f"verify ARCHIVE exit 0: {p.stderr[-300:]}")
    check(has(libs, "libzstd.so") and not has(libs, "libopenblas.so"), f"verify ARCHIVE loads libzstd only: {sorted(libs)}")

    # stats takes logarithms (the embedding spectrum's entropy): libm, on demand.
    p, libs = loaded(["stats", a, "--json"])
    check(p.returncode == 0, f"stats exit 0: {p.stderr[-300:]}")
    check(has(libs, "libm.so"), f"stats loads libm: {sorted(libs)}")

    # compare calls BLAS and LAPACK: both are loaded, on demand.
    p, libs = loaded(["compare", a, b, "--json"])
    check(p.returncode == 0, "compare exit 0")
    check(has(libs, "libopenblas.so") and has(libs, "liblapacke.so"), f"compare loads BLAS/LAPACKE: {sorted(libs)}")

    # The CLI picks OpenBLAS's kernels in its own environment: an explicit setting wins, and
    # on an AVX-512 CPU an unset one becomes SkylakeX — in one process, no re-execution
    # (OpenBLAS prints its core once per load with OPENBLAS_VERBOSE=2).
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    env["OPENBLAS_VERBOSE"] = "2"
    for preset in ("Haswell", None):
        e = dict(env)
        if preset:
            e["OPENBLAS_CORETYPE"] = preset
        p = subprocess.run([VINDEX, "compare", a, b, "--json"], capture_output=True, text=True, env=e)
        cores = [l.split(":", 1)[1].strip() for l in p.stderr.splitlines() if l.startswith("Core:")]
        check(p.returncode == 0 and len(cores) == 1, f"one OpenBLAS load (preset {preset}): {cores}")
        flags = open("/proc/cpuinfo").read()
        want = preset or ("SkylakeX" if all(f" {f}" in flags for f in ("avx512f", "avx512bw", "avx512vl")) else None)
        if want:
            check(cores[:1] == [want], f"OpenBLAS core with preset {preset}: {cores}, expected {want}")

finish()
