#!/usr/bin/python3
"""Write the seed corpora of tests/fuzz/corpus/<target>/ (seed-*; files libFuzzer found
are kept beside them under their hash names). Seeds are small valid inputs made from the
fixtures, plus a few near-valid ones that reach deeper checks.

usage: tests/fuzz/mkcorpus.py VINDEX_BINARY   (run from the repository root; extracts
the four fixtures with --features 8 --top-k 4 into a temporary directory)"""
import ctypes
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "tests", "fixtures")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
XXH = ctypes.CDLL("libxxhash.so.0")
XXH.XXH3_64bits.restype = ctypes.c_uint64
XXH.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    open(os.path.join(d, "seed-" + name), "wb").write(data)


def st_file(tensors, metadata=None, pad=0):
    """tensors: [(name, dtype, shape, bytes)] laid out in order."""
    h, off, blob = {}, 0, b""
    if metadata is not None:
        h["__metadata__"] = metadata
    for name, dt, shape, data in tensors:
        h[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
        blob += data
    raw = json.dumps(h).encode() + b" " * pad
    return struct.pack("<Q", len(raw)) + raw + blob


def safetensors_seeds():
    put("fuzz_safetensors", "small", st_file([("a", "F32", [2, 3], bytes(24)), ("b.weight", "F16", [4], bytes(8)),
                                               ("c", "BF16", [2, 2], bytes(8))], {"format": "pt"}))
    put("fuzz_safetensors", "scalar-empty", st_file([("s", "I64", [], bytes(8)), ("z", "F32", [0, 5], b""),
                                                      ("u", "U8", [3], b"abc"), ("m", "BOOL", [1], b"\x01")], pad=7))
    put("fuzz_safetensors", "exotic-dtypes", st_file([("f8", "F8_E4M3", [2, 2], bytes(4)), ("f4", "F4", [2, 2], bytes(2)),
                                                       ("c64", "C64", [1], bytes(8)), ("f64", "F64", [1, 1, 1, 1], bytes(8))]))
    put("fuzz_safetensors", "empty-header", struct.pack("<Q", 2) + b"{}")
    # the tiny-qwen3 last shard with its data cut to 4 bytes per tensor (a real header,
    # rewritten to stay valid) and the same header with the data section truncated
    b = open(os.path.join(FIX, "tiny-qwen3", "model-00004-of-00004.safetensors"), "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    ts = [(k, "F16", [2], bytes([i, 1, 2, 3])) for i, k in enumerate(sorted(k for k in h if k != "__metadata__"))]
    put("fuzz_safetensors", "qwen3-shard4-shrunk", st_file(ts, h.get("__metadata__")))
    put("fuzz_safetensors", "qwen3-shard4-truncated", b[:8 + n + 64])


def small_bpe_tokenizer():
    t = json.load(open(os.path.join(FIX, "tiny-qwen3", "tokenizer.json")))
    voc = t["model"]["vocab"]
    keep = {k: v for k, v in voc.items() if v < 300}
    merges = []
    for m in t["model"]["merges"]:
        a, b = m if isinstance(m, list) else m.split(" ", 1)
        if a in keep and b in keep and a + b in keep:
            merges.append(m)
    t["model"]["vocab"] = keep
    t["model"]["merges"] = merges
    return t


def tokenizer_seeds():
    t = small_bpe_tokenizer()
    put("fuzz_tokenizer", "bpe-bytelevel", json.dumps(t, ensure_ascii=False))
    t2 = json.loads(json.dumps(t))
    t2["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in t2["model"]["merges"]]
    t2["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"},
                                                                   "behavior": "Isolated", "invert": False},
                                                                  {"type": "ByteLevel", "add_prefix_space": True,
                                                                   "trim_offsets": False, "use_regex": False}]}
    put("fuzz_tokenizer", "bpe-bytelevel-string-merges", json.dumps(t2))
    bytes_ = {"<0x%02X>" % i: 3 + i for i in range(256)}
    llama = {"model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": True, "fuse_unk": True,
                       "vocab": dict({"<unk>": 0, "<s>": 1, "</s>": 2}, **bytes_, **{"\u2581": 259, "\u2581t": 260, "h": 261,
                                                                                    "e": 262, "he": 263, "\u2581the": 264, "t": 265}),
                       "merges": ["\u2581 t", "h e", "\u2581t he"]},
             "added_tokens": [{"id": 1, "content": "<s>", "special": True}, {"id": 2, "content": "</s>", "special": True}],
             "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                                {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
             "pre_tokenizer": None,
             "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                                                          {"type": "ByteFallback"}, {"type": "Fuse"}]}}
    put("fuzz_tokenizer", "bpe-metaspace-bytefallback", json.dumps(llama, ensure_ascii=False))
    uni = {"model": {"type": "Unigram", "unk_id": 0, "byte_fallback": False,
                     "vocab": [["<unk>", 0.0], ["\u2581", -2.0], ["\u2581the", -3.0], ["a", -4.0], ["b", -4.5], ["\u2581a", -3.5],
                               ["ab", -5.0], ["\u2581Paris", -6.0], ["is", -4.2], ["\u65e5", -7.0]]},
           "added_tokens": [{"id": 10, "content": "<pad>", "special": True}],
           "normalizer": {"type": "NFKC"},
           "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
           "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}}
    put("fuzz_tokenizer", "unigram-metaspace", json.dumps(uni, ensure_ascii=False))
    wp = {"model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                    "max_input_chars_per_word": 100,
                    "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "hello": 3, "world": 4, "wor": 5, "##ld": 6, "par": 7,
                              "##is": 8, ".": 9, "1": 10, "##2": 11}},
          "added_tokens": [{"id": 2, "content": "[CLS]", "special": True}],
          "normalizer": {"type": "BertNormalizer", "lowercase": True, "clean_text": True},
          "pre_tokenizer": {"type": "BertPreTokenizer"}, "decoder": {"type": "WordPiece", "prefix": "##"}}
    put("fuzz_tokenizer", "wordpiece", json.dumps(wp))


def tokregex_seeds():
    """pattern NUL text: the real tokenizers' patterns on mixed text, the refused
    constructs, and the pathological cases of tests/test_tokregex.c."""
    text = "Hello, I'M y'all 2025!\r\n.\n\n\n caf\u00e9 cafe\u0301 \u4f60\u597d \U0001f600 <div> /path x\u00b2 \u00bd   end"
    pats = {
        "gpt2": "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
        "llama3": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
                  "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        "gpt4o": "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
                 "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        "deepseek": "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+",
        "cjk": "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
        "whitespace": "\\w+|[^\\w\\s]+",
        "misc": "(?i)[a-f]{2,}?|\\b\\d\\B|^\\s*|\\s*$|(?=x)x*|a{,3}|\\x{41}\\u00e9|.|(?<n>q)",
        "refused-lookbehind": "(?<=a)b",
        "refused-backref": "(a)\\1",
        "refused-script": "\\p{Han}+",
        "broken": "([a-",
    }
    for name, p in pats.items():
        put("fuzz_tokregex", name, p.encode() + b"\0" + text.encode())
    for name, p, unit, tail in (("nested-star", "(a*)*b", "a", ""), ("alt-star", "(a|a)*b", "a", ""),
                                ("spaces", "\\s+(?!\\S)|\\s+", " ", "x"), ("look-star", "(?=(a*)*b)a", "a", "")):
        put("fuzz_tokregex", name, p.encode() + b"\0" + (unit * 2000 + tail).encode())


def vocab_image(style, toks, rows):
    """vocab.bin per spec/vocab-bin.md: readable text = raw (the parser checks only UTF-8)."""
    n = rows
    nb = 1
    while nb < 2 * n:
        nb <<= 1
    strings, ents = b"", []
    for i in range(n):
        raw = toks[i].encode() if i < len(toks) else b""
        ents.append((len(strings), len(raw), len(strings), len(raw)))
        strings += raw
    buckets = [0xFFFFFFFF] * nb
    for i, (ro, rl, _, _) in enumerate(ents):
        if not rl:
            continue
        s = strings[ro:ro + rl]
        h = XXH.XXH3_64bits(s, len(s)) & (nb - 1)
        while buckets[h] != 0xFFFFFFFF:
            o = buckets[h]
            if strings[ents[o][0]:ents[o][0] + ents[o][1]] == s:
                break
            h = (h + 1) & (nb - 1)
        else:
            buckets[h] = i
    eoff, elen = 80, 16 * n
    boff, blen = eoff + elen, 4 * nb
    soff = boff + blen
    hdr = b"VXVOCAB1" + struct.pack("<IIII", 1, n, style, nb) + struct.pack("<QQQQQQQ", eoff, elen, boff, blen, soff,
                                                                           len(strings), 0)
    return hdr + b"".join(struct.pack("<IIII", *e) for e in ents) + struct.pack("<%dI" % nb, *buckets) + strings


def vocab_seeds():
    voc = small_bpe_tokenizer()["model"]["vocab"]
    toks = [k for k, _ in sorted(voc.items(), key=lambda kv: kv[1])][:48]
    put("fuzz_vocab_bin", "bytelevel", vocab_image(1, toks, 52))
    put("fuzz_vocab_bin", "metaspace", vocab_image(2, ["<unk>", "\u2581the", "\u2581", "a", "<0x0A>", "\u2581Paris", "a"], 8))
    put("fuzz_vocab_bin", "plain", vocab_image(0, ["hello", "world", "##ld"], 3))
    put("fuzz_vocab_bin", "empty", vocab_image(0, [], 0))


def as_v1(j):
    """The version-1 index.json of the same extraction: no §9 keys or files."""
    j = dict(j, version=1)
    for k in ("unembedding", "unembed_clamped"):
        j.pop(k, None)
    j["layers"] = [{k: v for k, v in l.items() if k not in ("weights", "neurons")} for l in j["layers"]]
    j["files"] = {k: v for k, v in j["files"].items() if k not in ("spectra.bin", "neurons.bin", "moments.bin", "unembed.bin")}
    return j


def vindex_seeds(vindex, tmp):
    for fx in ("tiny-qwen3", "tiny-llama", "tiny-gpt2", "tiny-gemma3"):
        out = os.path.join(tmp, fx)
        subprocess.run([vindex, "extract", os.path.join(FIX, fx), "-o", out, "--features", "8", "--top-k", "4"],
                       check=True, capture_output=True)
        put("fuzz_index_json", fx, open(os.path.join(out, "index.json"), "rb").read())
        put("fuzz_index_json", "v1-" + fx, json.dumps(as_v1(json.load(open(os.path.join(out, "index.json")))), indent=1))
        put("fuzz_sums", fx, open(os.path.join(out, "SHA256SUMS"), "rb").read())
        if fx in ("tiny-qwen3", "tiny-gpt2"):
            put("fuzz_down_meta", fx, open(os.path.join(out, "down_meta.bin"), "rb").read())
    # format version 2 (spec §9): the unembedding kept, no battery (a synthetic-vindex
    # writer's index), a part (refused), and each optional key at a boundary
    out = os.path.join(tmp, "tiny-llama-unembed")
    subprocess.run([vindex, "extract", os.path.join(FIX, "tiny-llama"), "-o", out, "--features", "8", "--top-k", "4",
                    "--unembed"], check=True, capture_output=True)
    j = json.load(open(os.path.join(out, "index.json")))
    put("fuzz_index_json", "v2-unembed", json.dumps(j, indent=1))
    nb = json.loads(json.dumps(j))
    for f in ("spectra.bin", "neurons.bin", "moments.bin"):
        nb["files"].pop(f)
    for l in nb["layers"]:
        l.pop("weights")
        l.pop("neurons")
    put("fuzz_index_json", "v2-no-battery", json.dumps(nb))
    put("fuzz_index_json", "v2-part", json.dumps(dict(j, part={"layers": [0, 2], "of": 4})))
    g = json.load(open(os.path.join(tmp, "tiny-gpt2", "index.json")))
    g["layers"][0]["weights"]["gate"]["sparsity"] = [0, 0, 0, 0, 1]
    g["layers"][0]["weights"]["down"]["fro"] = 0
    put("fuzz_index_json", "v2-gpt2-edges", json.dumps(g))
    sums = open(os.path.join(tmp, "tiny-qwen3", "SHA256SUMS")).read().splitlines()
    put("fuzz_sums", "binary-marker", "".join(l[:65] + "*" + l[66:] + "\n" for l in sums[:3]))
    put("fuzz_sums", "empty", b"")
    # the smallest valid down_meta.bin: L=1 F=1 K=1, and L=1 F=2 K=2
    def dm(L, F, K, recs):
        return b"VXDMETA1" + struct.pack("<IIIIII", 1, L, F, K, 2, 16 * K) + b"".join(recs)
    put("fuzz_down_meta", "l1f1k1", dm(1, 1, 1, [struct.pack("<IfIf", 3, 0.5, 7, -0.25)] * 2))
    put("fuzz_down_meta", "l1f2k2", dm(1, 2, 2, [struct.pack("<IfIfIfIf", 1, 2.0, 2, 1.0, 3, -1.0, 4, 0.0)] * 4))


def checkpoint_seeds():
    for fx in ("tiny-qwen3", "tiny-llama", "tiny-gpt2", "tiny-gemma3"):
        put("fuzz_config", fx, open(os.path.join(FIX, fx, "config.json"), "rb").read())
    c = json.load(open(os.path.join(FIX, "tiny-qwen3", "config.json")))
    c2 = dict(c, model_type="qwen3_moe", architectures=["Qwen3MoeForCausalLM"], num_experts=4, moe_intermediate_size=64,
              mlp_only_layers=[0, 1, 2], decoder_sparse_step=1)
    put("fuzz_config", "qwen3-moe-mlp-only", json.dumps(c2))
    c3 = {"text_config": dict(c, model_type="gemma3_text"), "model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"]}
    put("fuzz_config", "nested-text-config", json.dumps(c3))
    ix = open(os.path.join(FIX, "tiny-qwen3", "model.safetensors.index.json"), "rb").read()
    put("fuzz_shard_index", "tiny-qwen3", ix)
    j = json.loads(ix)
    put("fuzz_shard_index", "no-metadata", json.dumps({"weight_map": j["weight_map"]}))


def map_file(hs, d, seed, path_a="/data/a.vindex", path_b="/data/b.vindex", source=0, version=1, checksum=True):
    """A map file laid out from spec/map-format.md §2 (written independently of the C
    encoder): random orthonormal basis rows, a random rotation."""
    import numpy as np
    rng = np.random.default_rng(seed)
    pa, pb = path_a.encode(), path_b.encode()
    body = pa + pb
    body += b"\0" * (-(256 + len(body)) % 8)
    if hs > d:
        q, _ = np.linalg.qr(rng.standard_normal((hs, d)))
        body += rng.standard_normal(hs).astype("<f8").tobytes()
        w = q.T.astype("<f4").tobytes()
        body += w + b"\0" * (-len(w) % 8)
    r, _ = np.linalg.qr(rng.standard_normal((d, d)))
    body += rng.standard_normal(d).astype("<f8").tobytes() + rng.standard_normal(d).astype("<f8").tobytes()
    body += r.astype("<f8").tobytes()
    size = 256 + len(body) + 8
    head = b"\x89VXMAP\r\n" + struct.pack("<IIIIIIII", version, 256, source, hs, d, len(pa), len(pb), 0)
    head += struct.pack("<Q", size) + b"0123456789abcdef" * 4 + b"fedcba9876543210" * 4
    head += b"\0" * (256 - len(head))
    data = head + body
    h = XXH.XXH3_64bits(data, len(data)) if checksum else 0
    return data + struct.pack(">Q", h)


def map_seeds():
    put("fuzz_mapfile", "pca-12x8", map_file(12, 8, 1))
    put("fuzz_mapfile", "pca-16x3-source-b", map_file(16, 3, 2, source=1, path_a="a", path_b="/x/y/z.vindex"))
    put("fuzz_mapfile", "nopca-6", map_file(6, 6, 3))
    put("fuzz_mapfile", "nopca-1", map_file(1, 1, 4, path_a="/", path_b="b"))
    put("fuzz_mapfile", "bad-checksum", map_file(5, 4, 5, checksum=False))
    put("fuzz_mapfile", "version-2", map_file(5, 4, 6, version=2))
    put("fuzz_mapfile", "truncated", map_file(9, 4, 7)[:300])
def tar_seeds(tmp):
    """Small archives in each dialect the reader accepts, and a few it refuses (A-T*)."""
    import io
    import tarfile

    def mk(fmt, members):
        b = io.BytesIO()
        with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
            for name, data, kind in members:
                ti = tarfile.TarInfo(name)
                if kind == "dir":
                    ti.type = tarfile.DIRTYPE
                    t.addfile(ti)
                elif kind == "sym":
                    ti.type = tarfile.SYMTYPE
                    ti.linkname = "../etc/passwd"
                    t.addfile(ti)
                elif kind == "fifo":
                    ti.type = tarfile.FIFOTYPE
                    t.addfile(ti)
                else:
                    ti.size = len(data)
                    t.addfile(ti, io.BytesIO(data))
        return b.getvalue()

    files = [("x.vindex/", b"", "dir"), ("x.vindex/SHA256SUMS", b"0" * 64 + b"  index.json\n", "file"),
             ("x.vindex/index.json", b"{}", "file")]
    put("fuzz_tar", "ustar", mk(tarfile.USTAR_FORMAT, files))
    put("fuzz_tar", "gnu", mk(tarfile.GNU_FORMAT, files + [("x.vindex/" + "n" * 120, b"long", "file")]))
    put("fuzz_tar", "pax", mk(tarfile.PAX_FORMAT, files + [("x.vindex/" + "p" * 130, b"pax path", "file")]))
    put("fuzz_tar", "symlink", mk(tarfile.GNU_FORMAT, [("x/a", b"", "sym")]))
    put("fuzz_tar", "fifo", mk(tarfile.USTAR_FORMAT, [("x/f", b"", "fifo")]))
    put("fuzz_tar", "empty", bytes(1024))
    t = mk(tarfile.USTAR_FORMAT, files)
    put("fuzz_tar", "truncated", t[:700])
    put("fuzz_tar", "trailing", t + b"\x01")
    # GNU tar's own output, when it is installed: its 'L' records and base-256 sizes
    d = os.path.join(tmp, "tarsrc")
    os.makedirs(os.path.join(d, "x.vindex"), exist_ok=True)
    open(os.path.join(d, "x.vindex", "SHA256SUMS"), "wb").write(b"a" * 40)
    open(os.path.join(d, "x.vindex", "m" * 110), "wb").write(b"b" * 3)
    for fmt in ("gnu", "posix"):
        r = subprocess.run(["tar", "-C", d, "--format=" + fmt, "-cf", "-", "x.vindex"], capture_output=True)
        if r.returncode == 0:
            put("fuzz_tar", "gnutar-" + fmt, r.stdout)


def main():
    vindex = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "vindex")
    tmp = tempfile.mkdtemp(prefix="vx-mkcorpus-")
    try:
        safetensors_seeds()
        tokenizer_seeds()
        tokregex_seeds()
        vocab_seeds()
        vindex_seeds(vindex, tmp)
        checkpoint_seeds()
        map_seeds()
        tar_seeds(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
