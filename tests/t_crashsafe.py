#!/usr/bin/python3
"""Crash safety and concurrency (spec/vindex-format.md R-E9, R-O1, vx_revalidate).

1. Kill `vindex extract` with SIGKILL after seeded random delays (spread over the whole
   run and concentrated around its end, where the final rename happens), replacing with
   --force and also creating OUT afresh. After every kill OUT is absent (fresh case
   or after a killed fresh run), or the previous complete vindex, or the new complete one: `vindex verify` exits
   0 and index.json's `model` names one of the two sources. Temporary directories left by
   the killed runs are removed by the next complete run, which says "interrupted".
2. Readers open the vindex at a path in a loop while another process replaces it with
   extract --force, alternating two checkpoints of identical shapes (tiny-qwen3 and a
   copy with negated embeddings, so only the bytes tell them apart). Through ctypes,
   every successful vx_open must be one vindex: index.json's `model` and the bytes of
   embeddings.bin and down_meta.bin come from the same extraction. Through the CLI,
   `info --json` and `verify` exit 0 or fail cleanly with exit 1, never a signal.
3. A file truncated in place under a live map: (a) ctypes: vx_open, truncate
   embeddings.bin, vx_revalidate fails naming the file (and succeeds before);
   (b) CLI queries in a loop while a thread truncates and restores embeddings.bin: each
   exits 0 or 1 with a message, never with a signal or a sanitizer report.

Honours $BUILD (libvindex.so and vindex from it). Prints counts, then "N passed, N failed"."""
import ctypes
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from vxtest import BDIR, BUILD, FIX, ROOT, VINDEX, check, failures, finish  # noqa: F401

LIB = os.path.join(BDIR, "libvindex.so")
SANITIZER = re.compile(r"AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer|runtime error:")
SEED = int(os.environ.get("VX_CRASH_SEED", "7"))
KILLS = int(os.environ.get("VX_CRASH_KILLS", "60"))
counts = {}



def bump(k, n=1):
    counts[k] = counts.get(k, 0) + n


def extract_args(src, out, force=True):
    return [VINDEX, "extract", src, "-o", out, "--features", "8", "--top-k", "4"] + (["--force"] if force else [])


def model_of(vx):
    try:
        return json.load(open(os.path.join(vx, "index.json")))["model"]
    except (OSError, ValueError, KeyError):
        return None


def verify_ok(vx):
    r = subprocess.run([VINDEX, "verify", vx], capture_output=True, timeout=120)
    return r.returncode == 0, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def leftovers(parent, name):
    return sorted(f for f in os.listdir(parent) if f.startswith("." + name + ".vxtmp."))


def make_twin(tmp):
    """tiny-qwen3 with every embedding value negated (sign bit flipped): same shapes and
    sizes everywhere, different embeddings.bin and down_meta.bin."""
    twin = os.path.join(tmp, "qwen3-twin")
    shutil.copytree(os.path.join(FIX, "tiny-qwen3"), twin)
    p = os.path.join(twin, "model-00001-of-00004.safetensors")
    b = bytearray(open(p, "rb").read())
    n = struct.unpack("<Q", b[:8])[0]
    e = json.loads(b[8:8 + n])["model.embed_tokens.weight"]
    assert e["dtype"] in ("F16", "BF16")
    s, t = e["data_offsets"]
    for i in range(8 + n + s + 1, 8 + n + t, 2):
        b[i] ^= 0x80
    open(p, "wb").write(bytes(b))
    return twin


# ------------------------------------------------------------------ 1. kills


def kill_loop(tmp, srcs):
    rng = random.Random(SEED)
    parent = os.path.join(tmp, "kills")
    os.mkdir(parent)
    out = os.path.join(parent, "vx")
    # how long a complete replacing run takes, to spread the kills over it
    subprocess.run(extract_args(srcs[0], out, force=False), check=True, capture_output=True)
    t0 = time.monotonic()
    subprocess.run(extract_args(srcs[1], out), check=True, capture_output=True)
    full = time.monotonic() - t0
    counts["extract_seconds"] = round(full, 3)
    cur = srcs[1]
    for i in range(KILLS):
        fresh = i % 10 == 9  # every tenth run creates OUT afresh
        if fresh:
            shutil.rmtree(out, ignore_errors=True)  # absent already if the last runs were all killed early
            cur = None
        new = srcs[i % 2]
        # half the kills anywhere in the run, half in its last part, where the rename is
        delay = rng.uniform(0, 0.9 * full) if i % 2 == 0 else rng.uniform(0.6 * full, 1.0 * full)
        p = subprocess.Popen(extract_args(new, out, force=not fresh), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        if p.returncode == 0:
            bump("kill_after_exit")
        if not os.path.exists(out):
            check(cur is None, f"kill {i} after {delay:.3f}s: OUT vanished though a vindex was there")
            bump("out_absent")
            continue
        ok, text = verify_ok(out)
        m = model_of(out)
        check(ok, f"kill {i} after {delay:.3f}s: OUT is not a complete vindex: {text[-400:]!r}")
        check(m in (cur, new), f"kill {i}: OUT is model {m!r}, expected {cur!r} (old) or {new!r} (new)")
        bump("out_old" if m == cur and m != new else "out_new" if m == new else "out_other")
        cur = m
        bump("leftover_tmp_dirs_seen", len(leftovers(parent, "vx")))
    left = leftovers(parent, "vx")
    counts["leftovers_before_clean_run"] = len(left)
    r = subprocess.run(extract_args(srcs[0], out), capture_output=True)
    err = r.stderr.decode(errors="replace")
    check(r.returncode == 0, f"clean run after the kills failed: {err!r}")
    check(not leftovers(parent, "vx"), f"temporary directories survive a complete run: {leftovers(parent, 'vx')}")
    if left:
        check("interrupted" in err, f"{len(left)} stale temporary directories removed without saying so: {err!r}")
    check(verify_ok(out)[0] and model_of(out) == srcs[0], "the clean run's vindex")
    shutil.rmtree(parent)


# ------------------------------------------------------------------ ctypes


class VxErr(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * 1024)]


class VxInfo(ctypes.Structure):
    _fields_ = [("num_layers", ctypes.c_uint32), ("num_feats", ctypes.c_uint32), ("hidden_size", ctypes.c_uint32),
                ("vocab_size", ctypes.c_uint32), ("intermediate_size", ctypes.c_uint32), ("top_k", ctypes.c_uint32),
                ("embed_scale", ctypes.c_float), ("norm_offset", ctypes.c_float), ("tied_embeddings", ctypes.c_int),
                ("embed_clamped", ctypes.c_uint64), ("model", ctypes.c_char_p), ("model_type", ctypes.c_char_p),
                ("architecture", ctypes.c_char_p), ("dtype", ctypes.c_char_p), ("path", ctypes.c_char_p)]


def load_lib():
    lib = ctypes.CDLL(LIB)
    lib.vx_open.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.POINTER(VxErr)]
    lib.vx_close.argtypes = [ctypes.c_void_p]
    lib.vx_get_info.argtypes = [ctypes.c_void_p]
    lib.vx_get_info.restype = ctypes.POINTER(VxInfo)
    lib.vx_revalidate.argtypes = [ctypes.c_void_p, ctypes.POINTER(VxErr)]
    lib.vx_embeddings.argtypes = [ctypes.c_void_p]
    lib.vx_embeddings.restype = ctypes.POINTER(ctypes.c_uint16)
    lib.vx_feature_proj.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p,
                                    ctypes.c_uint32, ctypes.c_uint32, ctypes.c_int, ctypes.POINTER(VxErr)]
    return lib


def fingerprint(lib, vx):
    """(model from index.json, first embedding values, first down_meta record) of an open vindex."""
    info = lib.vx_get_info(vx).contents
    emb = lib.vx_embeddings(vx)
    pos, neg = ctypes.c_void_p(), ctypes.c_void_p()
    err = VxErr()
    rc = lib.vx_feature_proj(ctypes.byref(pos), ctypes.byref(neg), vx, 0, 0, 0, ctypes.byref(err))
    rec = ctypes.string_at(pos, 8 * info.top_k) if rc == 0 else b""
    return info.model.decode(), tuple(emb[i] for i in range(16)), rec


def ctypes_child():
    """Run as a subprocess (so an ASan build can preload its runtime): argv = mode, args."""
    lib = load_lib()
    mode = sys.argv[2]
    if mode == "fingerprint":  # print the fingerprint of a quiet vindex
        vx, err = ctypes.c_void_p(), VxErr()
        rc = lib.vx_open(ctypes.byref(vx), sys.argv[3].encode(), ctypes.byref(err))
        if rc:
            print(json.dumps({"error": err.msg.decode(errors="replace")}))
            return 1
        m, e, r = fingerprint(lib, vx)
        lib.vx_close(vx)
        print(json.dumps({"model": m, "emb": list(e), "rec": r.hex()}))
        return 0
    if mode == "opens":  # open in a loop for N seconds; report each open's fingerprint
        path, secs = sys.argv[3].encode(), float(sys.argv[4])
        known = json.loads(sys.argv[5])  # model -> [emb, rec]
        res = {"ok": 0, "failed": 0, "mixed": 0, "errors": {}, "mix_examples": []}
        end = time.monotonic() + secs
        while time.monotonic() < end:
            vx, err = ctypes.c_void_p(), VxErr()
            rc = lib.vx_open(ctypes.byref(vx), path, ctypes.byref(err))
            if rc:
                res["failed"] += 1
                msg = re.sub(r"\d+", "N", err.msg.decode(errors="replace"))[:160]
                res["errors"][msg] = res["errors"].get(msg, 0) + 1
                continue
            m, e, r = fingerprint(lib, vx)
            lib.vx_close(vx)
            want = known.get(m)
            if want and list(e) == want[0] and r.hex() == want[1]:
                res["ok"] += 1
            else:
                res["mixed"] += 1
                if len(res["mix_examples"]) < 3:
                    res["mix_examples"].append({"model": m, "emb_matches": [k for k, v in known.items() if v[0] == list(e)],
                                                "rec_matches": [k for k, v in known.items() if v[1] == r.hex()]})
        print(json.dumps(res))
        return 0
    if mode == "revalidate":  # open, revalidate, truncate, revalidate
        d = sys.argv[3]
        vx, err = ctypes.c_void_p(), VxErr()
        rc = lib.vx_open(ctypes.byref(vx), d.encode(), ctypes.byref(err))
        res = {"open": rc, "before": None, "after": None, "msg": ""}
        if rc == 0:
            res["before"] = lib.vx_revalidate(vx, ctypes.byref(err))
            p = os.path.join(d, "embeddings.bin")
            os.truncate(p, os.path.getsize(p) // 2)
            err = VxErr()
            res["after"] = lib.vx_revalidate(vx, ctypes.byref(err))
            res["msg"] = err.msg.decode(errors="replace")
            lib.vx_close(vx)
        print(json.dumps(res))
        return 0
    return 2


def child_env():
    """Environment for the ctypes child: a sanitizer build of libvindex.so needs its
    runtime preloaded into python (gcc: the libasan.so it links; clang: libclang_rt.asan),
    and python's own allocations kept out of the leak report."""
    env = dict(os.environ)
    ldd = subprocess.run(["ldd", LIB], capture_output=True, text=True).stdout
    m = re.search(r"(\S*libasan\.so[.\d]*) => (\S+)", ldd)
    rt = m.group(2) if m else None
    if not rt and subprocess.run(["sh", "-c", f"nm -D '{LIB}' | grep -q ' U __asan_init'"]).returncode == 0:
        rt = subprocess.run(["clang", "-print-file-name=libclang_rt.asan-x86_64.so"], capture_output=True,
                            text=True).stdout.strip()
    if rt:
        env["LD_PRELOAD"] = rt
        env["ASAN_OPTIONS"] = "detect_leaks=0"
    return env


def ctypes_run(*args, timeout=120):
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child"] + list(args), capture_output=True,
                       text=True, timeout=timeout, env=child_env())
    check(r.returncode == 0 and not SANITIZER.search(r.stderr),
          f"ctypes child {args[0]}: exit {r.returncode}: {r.stderr[-800:]!r}")
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        check(False, f"ctypes child {args[0]}: no result: {r.stdout[-300:]!r}")
        return None


# ------------------------------------------------------------------ 2. readers vs replacement


def replace_loop(srcs, out, stop, n_done):
    i = 0
    while not stop.is_set():
        r = subprocess.run(extract_args(srcs[i % 2], out), capture_output=True)
        if r.returncode == 0:
            n_done[0] += 1
        else:
            n_done[1] += 1
        i += 1


def readers(tmp, srcs):
    d = os.path.join(tmp, "readers")
    os.mkdir(d)
    out = os.path.join(d, "vx")
    known = {}
    for s in srcs:  # each model's fingerprint, from a quiet vindex
        q = os.path.join(d, "quiet-" + os.path.basename(s))
        subprocess.run(extract_args(s, q, force=False), check=True, capture_output=True)
        fp = ctypes_run("fingerprint", q)
        if not fp or "error" in fp:
            check(False, f"fingerprint of {s}: {fp}")
            return
        known[fp["model"]] = [fp["emb"], fp["rec"]]
        shutil.rmtree(q)
    check(len({tuple(v[0]) for v in known.values()}) == 2, "the two sources have distinct embeddings")
    subprocess.run(extract_args(srcs[0], out, force=False), check=True, capture_output=True)
    stop, n_done = threading.Event(), [0, 0]
    w = threading.Thread(target=replace_loop, args=(srcs, out, stop, n_done))
    w.start()
    try:
        res = ctypes_run("opens", out, "6", json.dumps(known), timeout=300)
        cli = {"ok": 0, "failed": 0}
        end = time.monotonic() + 4
        k = 0
        while time.monotonic() < end:
            args = [VINDEX, "info", out, "--json"] if k % 3 else [VINDEX, "verify", out]
            k += 1
            r = subprocess.run(args, capture_output=True)
            err = r.stderr.decode(errors="replace")
            if not check(r.returncode in (0, 1) and not SANITIZER.search(err),
                         f"{args[1]} during replacement: exit {r.returncode}: {err[-400:]!r}"):
                continue
            if r.returncode == 0:
                cli["ok"] += 1
                if args[1] == "info":
                    j = json.loads(r.stdout)
                    check(j["model"] in known, f"info during replacement: model {j['model']!r}")
            else:
                cli["failed"] += 1
                check(len(err.strip()) > 10, f"{args[1]} failed without a message")
    finally:
        stop.set()
        w.join()
    check(n_done[1] == 0, f"{n_done[1]} replacing extractions failed")
    counts["replacements"] = n_done[0]
    if res:
        counts["ctypes_opens_consistent"] = res["ok"]
        counts["ctypes_opens_failed_cleanly"] = res["failed"]
        counts["ctypes_opens_mixed"] = res["mixed"]
        check(res["mixed"] == 0, f"{res['mixed']} opens saw a mix of two vindexes: {res['mix_examples']}")
        check(res["ok"] > 0, "no open succeeded during replacement")
        if res["errors"]:
            counts["ctypes_open_errors"] = res["errors"]
    counts["cli_runs_ok"] = cli["ok"]
    counts["cli_runs_failed_cleanly"] = cli["failed"]
    check(verify_ok(out)[0], "vindex after the replacement loop")

    # The same atomic step extract --force ends with (renameat2 RENAME_EXCHANGE), at a rate
    # an extraction cannot reach: OUT and a sibling holding the other model trade places as
    # fast as python can ask. Both are complete at every instant, so every open must succeed
    # and be one vindex, and verify must pass.
    other = os.path.join(d, "other")
    subprocess.run(extract_args(srcs[1], other, force=False), check=True, capture_output=True)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    swaps = [0]

    def exchanger():
        a, b = out.encode(), other.encode()
        while not stop.is_set():
            if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0:
                swaps[0] += 1
            time.sleep(0.0002)

    stop = threading.Event()
    w = threading.Thread(target=exchanger)
    w.start()
    try:
        res = ctypes_run("opens", out, "3", json.dumps(known), timeout=300)
        bad_verify = 0
        for _ in range(8):
            ok, text = verify_ok(out)
            if not ok:
                bad_verify += 1
                if bad_verify == 1:
                    check(False, f"verify of a vindex replaced atomically reports problems: {text[-300:]!r}")
    finally:
        stop.set()
        w.join()
    counts["fast_exchanges"] = swaps[0]
    counts["fast_verify_failed"] = bad_verify
    if res:
        counts["fast_opens_consistent"] = res["ok"]
        counts["fast_opens_failed"] = res["failed"]
        counts["fast_opens_mixed"] = res["mixed"]
        check(res["mixed"] == 0, f"{res['mixed']} of {res['ok'] + res['mixed'] + res['failed']} opens during atomic "
              f"exchanges saw a mix of two vindexes (vx_open resolves each file by path): {res['mix_examples'][:1]}")
        check(res["failed"] == 0, f"{res['failed']} opens failed though OUT was always complete: {res['errors']}")
    shutil.rmtree(d)


# ------------------------------------------------------------------ 3. truncation under a map


def truncation(tmp, src):
    d = os.path.join(tmp, "trunc")
    os.mkdir(d)
    out = os.path.join(d, "vx")
    subprocess.run(extract_args(src, out, force=False), check=True, capture_output=True)
    pristine = os.path.join(d, "pristine")
    shutil.copytree(out, pristine)
    res = ctypes_run("revalidate", out)
    if res:
        check(res["open"] == 0 and res["before"] == 0, f"revalidate on an untouched vindex: {res}")
        check(res["after"] not in (0, None) and "embeddings.bin" in res["msg"],
              f"revalidate after truncating embeddings.bin: {res}")
        counts["revalidate_message"] = res["msg"]
    # (b) CLI queries while a thread truncates and restores embeddings.bin in place
    emb = os.path.join(out, "embeddings.bin")
    whole = open(os.path.join(pristine, "embeddings.bin"), "rb").read()
    shutil.rmtree(out)
    shutil.copytree(pristine, out)
    stop = threading.Event()
    rng = random.Random(SEED + 1)

    def truncator():
        while not stop.is_set():
            os.truncate(emb, rng.choice([0, 4096, len(whole) // 2]))
            time.sleep(rng.uniform(0, 0.01))
            with open(emb, "r+b") as f:  # in place: same inode, the maps see it
                f.write(whole)
            time.sleep(rng.uniform(0, 0.01))

    have_queries = subprocess.run([VINDEX, "score", "--help"], capture_output=True).returncode == 0
    cmds = [[VINDEX, "info", out, "--json"]]
    if have_queries:
        cmds += [[VINDEX, "nearest", out, "--token", "#5", "--json"], [VINDEX, "score", out, "#5", "--json"],
                 [VINDEX, "describe", out, "0:0", "--json"]]
    t = threading.Thread(target=truncator)
    t.start()
    outcome = {"ok": 0, "failed": 0, "sigbus_reported": 0}
    try:
        end = time.monotonic() + 5
        k = 0
        while time.monotonic() < end:
            args = cmds[k % len(cmds)]
            k += 1
            r = subprocess.run(args, capture_output=True)
            err = r.stderr.decode(errors="replace")
            if not check(r.returncode in (0, 1) and not SANITIZER.search(err),
                         f"{args[1]} while truncating: exit {r.returncode}"
                         f"{' (signal %d)' % -r.returncode if r.returncode < 0 else ''}: {err[-400:]!r}"):
                continue
            if r.returncode == 0:
                outcome["ok"] += 1
            else:
                outcome["failed"] += 1
                if "SIGBUS" in err:
                    outcome["sigbus_reported"] += 1
                check(err.startswith("vindex") and len(err.strip()) > 10, f"{args[1]}: unclear failure {err!r}")
    finally:
        stop.set()
        t.join()
    counts["truncation_cli"] = outcome
    shutil.rmtree(d)


def main():
    for p in (VINDEX, LIB):
        if not os.path.exists(p):
            print(f"{p} not built")
            print("0 passed, 1 failed")
            sys.exit(1)
    tmp = tempfile.mkdtemp(prefix="vx-crash-")
    try:
        srcs = [os.path.join(FIX, "tiny-qwen3"), make_twin(tmp)]
        kill_loop(tmp, [os.path.join(FIX, "tiny-llama"), srcs[0]])
        readers(tmp, srcs)
        truncation(tmp, srcs[0])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(counts, sort_keys=True))
    finish()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(ctypes_child())
    main()
