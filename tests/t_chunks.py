#!/usr/bin/python3
"""SHA-256 by chunks (spec R-I10, R-S2, A-V7).

Writers: every file `index.json` lists carries `sha256` (hashlib's digest of the file) and,
when larger than 16 MiB, `sha256_chunks` with hashlib's digest of every 16 MiB slice — for
vindexes written by tools/mkvindex at the edge sizes (exactly 16 MiB: no chunks; exactly
32 MiB: two full chunks; 16 MiB + a partial chunk), by `extract` from a synthetic
checkpoint whose embedding and unembedding pass 16 MiB, and by `merge` of its parts.

Readers: `vindex info` refuses every malformed `sha256`/`sha256_chunks` (count, size,
hex, missing partner) naming the key. `verify`: a clean vindex passes with and without
--whole-files; a flipped byte in a chunk is one SHA-256 line naming the chunk's bytes;
index.json's chunk digests or whole-file digest disagreeing with the bytes or with
SHA256SUMS is reported (with index.json's own SHA256SUMS line updated, so only that fact is
wrong); a file longer or shorter than recorded is hashed whole; --whole-files also hashes
whole. Archives: pack/unpack keep the digests, and the streamed verify checks `sha256`.
Prints "N passed, N failed"."""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

import ckptgen as G
from vxtest import BDIR, VINDEX, check, finish

MKVINDEX = os.path.join(BDIR, "tools", "mkvindex")
C = 16 << 20


def run(*args):
    return subprocess.run([VINDEX, *args], capture_output=True, text=True)


def check_digests(d, what):
    """Every files entry against hashlib; returns the number of chunked files."""
    idx = json.load(open(os.path.join(d, "index.json")))
    sums = dict((l[66:].strip(), l[:64]) for l in open(os.path.join(d, "SHA256SUMS")))
    chunked = 0
    for name, f in idx["files"].items():
        b = open(os.path.join(d, name), "rb").read()
        check(f.get("sha256") == hashlib.sha256(b).hexdigest() == sums[name], f"{what}: {name}: sha256 is the file's")
        ch = f.get("sha256_chunks")
        check((ch is not None) == (len(b) > C), f"{what}: {name} ({len(b)} bytes): chunk digests exactly when > 16 MiB")
        if ch:
            chunked += 1
            want = [hashlib.sha256(b[k:k + C]).hexdigest() for k in range(0, len(b), C)]
            check(ch["chunk_bytes"] == C and ch["digests"] == want, f"{what}: {name}: chunk digests are hashlib's")
    return chunked


def rewrite_index(d, fn):
    """Apply fn to index.json's object and keep SHA256SUMS's line for it true."""
    p = os.path.join(d, "index.json")
    idx = json.load(open(p))
    fn(idx)
    raw = json.dumps(idx, indent=2).encode()
    open(p, "wb").write(raw)
    set_sum(d, "index.json", hashlib.sha256(raw).hexdigest())


def set_sum(d, name, hexd):
    p = os.path.join(d, "SHA256SUMS")
    lines = [(hexd + l[64:]) if l[66:].strip() == name else l for l in open(p)]
    open(p, "w").write("".join(lines))


def mkvindex(d, V, H=256):
    r = subprocess.run([MKVINDEX, d, "--layers", "2", "--feats", "8", "--hidden", str(H), "--vocab", str(V)],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"mkvindex V={V}: {r.stderr}")


def writers(tmp):
    for V, n in ((32768, 0), (65536, 1), (40000, 1)):  # 16 MiB exactly, 32 MiB exactly, 16 MiB + 3.5 MiB
        d = os.path.join(tmp, f"mk{V}")
        mkvindex(d, V)
        check(check_digests(d, f"mkvindex V={V}") == n, f"mkvindex V={V}: {n} chunked file(s)")
        r = run("verify", d)
        check(r.returncode == 0, f"mkvindex V={V}: verifies: {r.stdout}{r.stderr}")

    # extract: an untied llama whose embedding and lm_head are 33000 x 256 (16.9 MB in f16)
    rng = np.random.default_rng(7)
    V, H, L, I = 33000, 256, 2, 64
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H, "num_hidden_layers": L,
           "vocab_size": V, "intermediate_size": I, "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
           "torch_dtype": "bfloat16", "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64}
    w = {"model.embed_tokens.weight": rng.standard_normal((V, H)), "lm_head.weight": rng.standard_normal((V, H)),
         "model.norm.weight": rng.uniform(0.5, 1.5, H)}
    for l in range(L):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = w[p + "post_attention_layernorm.weight"] = rng.uniform(0.5, 1.5, H)
        w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"] = rng.standard_normal((I, H)), rng.standard_normal((I, H))
        w[p + "mlp.down_proj.weight"] = rng.standard_normal((H, I))
    ck = os.path.join(tmp, "ckpt")
    G.write_ckpt(ck, cfg, G.store(w))
    one = os.path.join(tmp, "x-one")
    r = run("extract", ck, "-o", one, "--unembed", "--features", "16")
    if not check(r.returncode == 0, f"extract: {r.stderr}"):
        return
    check(check_digests(one, "extract") == 2, "extract: embeddings.bin and unembed.bin chunked")
    parts = []
    for a in range(L):
        p = os.path.join(tmp, f"x-part{a}")
        r = run("extract", ck, "-o", p, "--unembed", "--features", "16", "--layers", f"{a}-{a}")
        check(r.returncode == 0, f"extract --layers {a}-{a}: {r.stderr}")
        parts.append(p)
    merged = os.path.join(tmp, "x-merged")
    r = run("merge", *parts, "-o", merged)
    if check(r.returncode == 0, f"merge: {r.stderr}"):
        check(check_digests(merged, "merge") == 2, "merge: embeddings.bin and unembed.bin chunked")
        a, b = (json.load(open(os.path.join(x, "index.json")))["files"] for x in (one, merged))
        check(all(a[n].get("sha256_chunks") == b[n].get("sha256_chunks") for n in a), "merge: the same digests as one extraction")


def readers(tmp, base):
    """index.json's R-I10 keys malformed: vx_open (vindex info) names the key."""
    C2 = 2 * C
    cases = [
        ("chunk_bytes not a power of two", lambda e: e["sha256_chunks"].update(chunk_bytes=C + 4096), "chunk_bytes"),
        ("chunk_bytes below 1 MiB", lambda e: e["sha256_chunks"].update(chunk_bytes=1 << 19), "chunk_bytes"),
        ("chunk_bytes above 1 GiB", lambda e: e["sha256_chunks"].update(chunk_bytes=1 << 31), "chunk_bytes"),
        ("one digest too few", lambda e: e["sha256_chunks"]["digests"].pop(), "digests"),
        ("one digest too many", lambda e: e["sha256_chunks"]["digests"].append("0" * 64), "digests"),
        ("a single chunk", lambda e: e["sha256_chunks"].update(chunk_bytes=C2, digests=["0" * 64]), "digests"),
        ("upper-case hex", lambda e: e["sha256_chunks"]["digests"].__setitem__(0, "A" * 64), "digests[0]"),
        ("a short digest", lambda e: e["sha256_chunks"]["digests"].__setitem__(1, "a" * 63), "digests[1]"),
        ("a digest not a string", lambda e: e["sha256_chunks"]["digests"].__setitem__(1, 7), "digests[1]"),
        ("chunks without sha256", lambda e: e.pop("sha256"), "sha256_chunks"),
        ("chunks not an object", lambda e: e.update(sha256_chunks=[1]), "sha256_chunks"),
        ("sha256 not hex", lambda e: e.update(sha256="x" * 64), "sha256"),
        ("sha256 too long", lambda e: e.update(sha256="a" * 65), "sha256"),
    ]
    for what, fn, key in cases:
        d = os.path.join(tmp, "bad")
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(base, d)
        rewrite_index(d, lambda idx: fn(idx["files"]["embeddings.bin"]))
        r = run("info", d)
        check(r.returncode == 1 and "index.json" in r.stderr and "embeddings.bin" in r.stderr and key in r.stderr,
              f"info refuses {what}: exit {r.returncode}: {r.stderr.strip()}")
        r = run("verify", d)
        check(r.returncode == 1, f"verify refuses {what}: exit {r.returncode}")


def verifier(tmp, base):
    for flags in ([], ["--whole-files"]):
        r = run("verify", *flags, base)
        check(r.returncode == 0, f"verify {flags}: clean: {r.stdout}{r.stderr}")

    def variant(name):
        d = os.path.join(tmp, name)
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(base, d)
        return d

    emb = lambda d: os.path.join(d, "embeddings.bin")
    # a flipped byte in the second (partial) chunk
    d = variant("flip")
    with open(emb(d), "r+b") as f:
        f.seek(C + 1000)
        b = f.read(1)
        f.seek(C + 1000)
        f.write(bytes([b[0] ^ 0x40]))
    r = run("verify", d)
    sha = [l for l in r.stdout.splitlines() if l.startswith("embeddings.bin:") and "SHA-256" in l]
    check(r.returncode == 1 and len(sha) == 1 and "1 of 2 chunks" in sha[0] and f"bytes {C}..{40000 * 256 * 2 - 1}" in sha[0],
          f"flip: one line naming the chunk: {sha}")
    r = run("verify", "--whole-files", d)
    sha = [l for l in r.stdout.splitlines() if l.startswith("embeddings.bin:") and "SHA-256" in l]
    check(r.returncode == 1 and len(sha) == 2, f"flip --whole-files: the whole file and the chunk: {sha}")

    # index.json's chunk digest wrong (SHA256SUMS true for index.json): the bytes disagree
    d = variant("chunkdigest")
    rewrite_index(d, lambda idx: idx["files"]["embeddings.bin"]["sha256_chunks"]["digests"].__setitem__(0, "0" * 64))
    r = run("verify", d)
    check(r.returncode == 1 and "SHA-256 mismatch in 1 of 2 chunks" in r.stdout, f"wrong chunk digest: {r.stdout}")
    r = run("verify", "--whole-files", d)
    check(r.returncode == 1 and "SHA-256 mismatch in 1 of 2 chunks" in r.stdout, f"wrong chunk digest, --whole-files: {r.stdout}")

    # index.json's whole-file digest disagrees with SHA256SUMS: reported; the bytes match SHA256SUMS
    d = variant("wholedigest")
    rewrite_index(d, lambda idx: idx["files"]["embeddings.bin"].update(sha256="1" * 64))
    r = run("verify", d)
    lines = r.stdout.splitlines()
    check(r.returncode == 1 and any("SHA256SUMS gives" in l and "index.json records " + "1" * 64 in l for l in lines)
          and not any("mismatch" in l for l in lines), f"index.json's sha256 unlike SHA256SUMS: {r.stdout}")

    # SHA256SUMS's line for the embeddings wrong: reported, and the whole hash says the bytes differ from it
    d = variant("sumsline")
    set_sum(d, "embeddings.bin", "2" * 64)
    r = run("verify", d)
    check(r.returncode == 1 and "SHA256SUMS gives " + "2" * 64 in r.stdout and "SHA-256 mismatch: expected " + "2" * 64 in r.stdout,
          f"SHA256SUMS line wrong: {r.stdout}")

    # one byte appended / the file cut short: hashed whole (the chunks would not cover it)
    for how in ("longer", "shorter"):
        d = variant(how)
        with open(emb(d), "r+b") as f:
            if how == "longer":
                f.seek(0, 2)
                f.write(b"\0")
            else:
                f.truncate(C + 10)
        r = run("verify", d)
        sha = [l for l in r.stdout.splitlines() if l.startswith("embeddings.bin:") and "SHA-256" in l]
        check(r.returncode == 1 and len(sha) == 1 and "SHA-256 mismatch: expected" in sha[0],
              f"{how}: hashed whole: {r.stdout}{r.stderr}")

    # threads: the same verdicts on one thread and on four
    for t in ("1", "4"):
        r = run("verify", "-j", t, base)
        check(r.returncode == 0, f"verify -j {t}: clean")
        r = run("verify", "-j", t, os.path.join(tmp, "flip"))
        check(r.returncode == 1 and "1 of 2 chunks" in r.stdout, f"verify -j {t}: flip found")


def archives(tmp, base):
    arc = os.path.join(tmp, "v.vindex.tar.zst")
    r = run("pack", base, "-o", arc)
    if not check(r.returncode == 0, f"pack: {r.stderr}"):
        return
    r = run("verify", arc)
    check(r.returncode == 0, f"verify archive: {r.stdout}{r.stderr}")
    out = os.path.join(tmp, "unpacked")
    r = run("unpack", arc, "-o", out)
    check(r.returncode == 0, f"unpack: {r.stderr}")
    check(open(os.path.join(out, "index.json"), "rb").read() == open(os.path.join(base, "index.json"), "rb").read(),
          "unpack: index.json with its digests, byte for byte")
    r = run("verify", out)
    check(r.returncode == 0, f"verify unpacked: {r.stdout}{r.stderr}")
    # an archive whose index.json records a wrong whole-file digest (SHA256SUMS consistent)
    d = os.path.join(tmp, "arc-bad")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(base, d)
    rewrite_index(d, lambda idx: idx["files"]["norms.bin"].update(sha256="3" * 64))
    arc2 = os.path.join(tmp, "bad.vindex.tar.zst")
    r = run("pack", d, "-o", arc2)
    check(r.returncode == 1 and "records SHA-256 " + "3" * 64 + " for norms.bin" in r.stderr and not os.path.exists(arc2),
          f"pack refuses index.json's wrong sha256: {r.stderr}")
    # the same directory packed by plain tar: the streamed verify and unpack check the record
    subprocess.run(["tar", "--zstd", "-cf", arc2, "-C", tmp, "arc-bad"], check=True)
    for cmd in (["verify", arc2], ["unpack", arc2, "-o", os.path.join(tmp, "arc-bad-out")]):
        r = run(*cmd)
        check(r.returncode == 1 and "norms.bin: SHA-256 (index.json) mismatch: expected " + "3" * 64 in r.stdout + r.stderr,
              f"{cmd[0]} of a tar archive: index.json's sha256 checked: {r.stdout}{r.stderr}")
    check(not os.path.exists(os.path.join(tmp, "arc-bad-out")), "unpack left nothing")


def main():
    tmp = tempfile.mkdtemp(prefix="vx-chunks-")
    try:
        writers(tmp)
        base = os.path.join(tmp, "mk40000")
        readers(tmp, base)
        verifier(tmp, base)
        archives(tmp, base)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
