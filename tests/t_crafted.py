#!/usr/bin/python3
"""Crafted hostile checkpoints through `vindex extract`: safetensors headers that lie
(length, JSON, offsets, shapes, dtypes, names, dimensions), sharded indexes that name
missing or wrong files, configs with negative, huge, fractional or missing sizes, and
tokenizers that are truncated or lie about ids. Each is rejected with exit 1 or 2, a
clear message naming the file, nothing at the output path and no temporary directory
left; never a signal or a sanitizer report. A few legal oddities (header padded with
spaces, JSON order unlike offset order, zero-size and rank-0 tensors) must be accepted.

tests/t_extract_bad.py covers the first cut of these (header past the end and > 100 MB,
not JSON, end out of range, overlap, dtype x shape, unknown dtype, FP8, trailing bytes,
config negative/huge/missing, tokenizer truncated JSON and duplicate ids); this file
covers the rest of spec/checkpoint-input.md S1-S9, C3, C8, C9, C16 case by case.
Honours $BUILD. Prints "N passed, N failed"."""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from vxtest import BDIR, BUILD, FIX, ROOT, VINDEX, check, failures, finish  # noqa: F401

SANITIZER = re.compile(r"AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer|runtime error:")



# ------------------------------------------------------------ safetensors bytes


def split(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return b[8:8 + n], b[8 + n:]


def ordered(header_bytes):
    """Tensor entries as a list of (name, dict) in offset order, plus __metadata__."""
    h = json.loads(header_bytes)
    meta = h.pop("__metadata__", None)
    return sorted(h.items(), key=lambda kv: kv[1]["data_offsets"][0]), meta


def jraw(items, meta=None):
    """Header text from (name, entry) pairs, keeping order and duplicates."""
    parts = []
    if meta is not None:
        parts.append('"__metadata__": ' + json.dumps(meta))
    for k, v in items:
        parts.append(json.dumps(k) + ": " + (v if isinstance(v, str) else json.dumps(v)))
    return ("{" + ", ".join(parts) + "}").encode()


def st(header, data, n=None):
    return struct.pack("<Q", len(header) if n is None else n) + header + data


def st_case(fn):
    """fn(items, meta, header_bytes, data) -> new file bytes, on tiny-llama's model.safetensors."""
    def mutate(d):
        p = os.path.join(d, "model.safetensors")
        hb, data = split(p)
        items, meta = ordered(hb)
        out = fn(items, meta, hb, data)
        os.unlink(p)
        open(p, "wb").write(out)
    return mutate


def set_entry(i, **kw):
    def fn(items, meta, hb, data):
        items[i] = (items[i][0], dict(items[i][1], **kw))
        return st(jraw(items, meta), data)
    return fn


def raw_entry(i, text):
    def fn(items, meta, hb, data):
        items[i] = (items[i][0], text)
        return st(jraw(items, meta), data)
    return fn


def rename(i, raw_name_bytes):
    def fn(items, meta, hb, data):
        h = jraw(items, meta)
        old = json.dumps(items[i][0]).encode()
        return st(h.replace(old, raw_name_bytes, 1), data)
    return fn


def shift_offsets_from(i, delta, grow_data):
    """Move tensors i.. by delta bytes (a gap when > 0), growing the data to match."""
    def fn(items, meta, hb, data):
        s0 = items[i][1]["data_offsets"][0]
        for j in range(i, len(items)):
            b, e = items[j][1]["data_offsets"]
            items[j] = (items[j][0], dict(items[j][1], data_offsets=[b + delta, e + delta]))
        body = data[:s0] + b"\0" * delta + data[s0:] if grow_data else data
        return st(jraw(items, meta), body)
    return fn


def swap_offsets(i):
    """Swap the offsets of tensor i and the next one of another size: out of order, and
    the tiling breaks (tensors of equal size may legally trade places)."""
    def fn(items, meta, hb, data):
        size = lambda k: items[k][1]["data_offsets"][1] - items[k][1]["data_offsets"][0]
        j = next(k for k in range(i + 1, len(items)) if size(k) != size(i))
        a, b = items[i][1]["data_offsets"], items[j][1]["data_offsets"]
        items[i] = (items[i][0], dict(items[i][1], data_offsets=b))
        items[j] = (items[j][0], dict(items[j][1], data_offsets=a))
        return st(jraw(items, meta), data)
    return fn


def add_tensor(name, entry, extra_data):
    def fn(items, meta, hb, data):
        end = items[-1][1]["data_offsets"][1]
        e = dict(entry)
        if "data_offsets" not in e:
            e["data_offsets"] = [end, end + len(extra_data)]
        items.append((name, e))
        return st(jraw(items, meta), data + extra_data)
    return fn


def safetensors_cases():
    # (label, fn, needle in stderr); all on tiny-llama (embed, lm_head, 4 layers)
    E = 3  # an entry index in offset order: a layer-0 tensor, not the last
    bad = [
        ("shorter-than-8", lambda it, m, hb, d: b"\x10\0\0", "model.safetensors"),
        ("header-len-zero", lambda it, m, hb, d: st(b"", d, 0), "model.safetensors"),
        ("header-len-one-past-end", lambda it, m, hb, d: st(hb, d, len(hb) + len(d) + 1), "model.safetensors"),
        ("header-len-u64-max", lambda it, m, hb, d: st(hb, d, 2 ** 64 - 1), "model.safetensors"),
        ("header-len-wraps", lambda it, m, hb, d: st(hb, d, 2 ** 64 - 8), "model.safetensors"),
        ("header-len-100MB+1", lambda it, m, hb, d: st(hb, d, 100_000_001), "model.safetensors"),
        ("header-array", lambda it, m, hb, d: st(b"[]" + b" " * 6, d), "model.safetensors"),
        ("header-string", lambda it, m, hb, d: st(b'"abc"', d), "model.safetensors"),
        ("header-null", lambda it, m, hb, d: st(b"null", d), "model.safetensors"),
        ("header-number", lambda it, m, hb, d: st(b"12345678", d), "model.safetensors"),
        ("header-bom", lambda it, m, hb, d: st(b"\xef\xbb\xbf" + hb, d), "model.safetensors"),
        ("header-leading-space", lambda it, m, hb, d: st(b" " + hb, d), "model.safetensors"),
        ("header-garbage-after", lambda it, m, hb, d: st(hb + b"xx", d), "model.safetensors"),
        ("header-second-object", lambda it, m, hb, d: st(hb + b"{}", d), "model.safetensors"),
        ("header-nul-padding", lambda it, m, hb, d: st(hb + b"\0\0\0\0", d), "model.safetensors"),
        ("header-truncated-json", lambda it, m, hb, d: st(hb[:len(hb) // 2], d), "model.safetensors"),
        ("begin-after-end", set_entry(E, data_offsets=[100, 4]), "model.safetensors"),
        ("offsets-negative", set_entry(E, data_offsets=[-2, 6]), "model.safetensors"),
        ("offsets-float", raw_entry(E, '{"dtype": "BF16", "shape": [128], "data_offsets": [0.0, 256.0]}'), "model.safetensors"),
        ("offsets-exponent", raw_entry(E, '{"dtype": "BF16", "shape": [128], "data_offsets": [0, 2.56e2]}'), "model.safetensors"),
        ("offsets-leading-zero", raw_entry(E, '{"dtype": "BF16", "shape": [128], "data_offsets": [0, 0256]}'), "model.safetensors"),
        ("offsets-three", set_entry(E, data_offsets=[0, 4, 8]), "model.safetensors"),
        ("offsets-one", set_entry(E, data_offsets=[0]), "model.safetensors"),
        ("offsets-missing", raw_entry(E, '{"dtype": "BF16", "shape": [128]}'), "model.safetensors"),
        ("offsets-2^64", raw_entry(E, '{"dtype": "BF16", "shape": [128], "data_offsets": [18446744073709551360, 18446744073709551616]}'), "model.safetensors"),
        ("offsets-past-2^53", set_entry(E, data_offsets=[2 ** 53 + 2, 2 ** 53 + 258]), "model.safetensors"),
        ("gap", shift_offsets_from(E, 2, True), "model.safetensors"),
        ("gap-at-start", shift_offsets_from(0, 4, True), "model.safetensors"),
        ("unsorted-overlap", swap_offsets(E), "model.safetensors"),
        ("same-bytes-twice", lambda it, m, hb, d: st(jraw(it + [("alias", it[0][1])], m), d), "model.safetensors"),
        ("shape-overflow-2^32x2^32", add_tensor("x.big", {"dtype": "F32", "shape": [2 ** 32, 2 ** 32]}, b""), "model.safetensors"),
        ("shape-overflow-wraps-to-0", add_tensor("x.wrap", {"dtype": "F32", "shape": [2 ** 53, 2 ** 11, 2 ** 2]}, b""), "model.safetensors"),
        ("shape-overflow-bits", add_tensor("x.bits", {"dtype": "F64", "shape": [2 ** 53, 2 ** 8]}, b""), "model.safetensors"),
        ("shape-dim-above-2^53", add_tensor("x.dim", {"dtype": "U8", "shape": [2 ** 53 + 2]}, b""), "model.safetensors"),
        ("shape-negative", add_tensor("x.neg", {"dtype": "U8", "shape": [-4]}, b"abcd"), "model.safetensors"),
        ("shape-fraction", add_tensor("x.frac", {"dtype": "U8", "shape": [2.5]}, b"ab"), "model.safetensors"),
        ("shape-string", add_tensor("x.str", {"dtype": "U8", "shape": ["4"]}, b"abcd"), "model.safetensors"),
        ("shape-not-array", add_tensor("x.obj", {"dtype": "U8", "shape": 4}, b"abcd"), "model.safetensors"),
        ("rank-9", add_tensor("x.rank9", {"dtype": "U8", "shape": [1] * 9}, b"a"), "model.safetensors"),
        ("rank-1000", add_tensor("x.rank1000", {"dtype": "U8", "shape": [1] * 1000}, b"a"), "model.safetensors"),
        ("bits-not-bytes", add_tensor("x.f4", {"dtype": "F4", "shape": [3]}, b"ab"), "model.safetensors"),
        ("dtype-lowercase", set_entry(E, dtype="bf16"), "model.safetensors"),
        ("dtype-not-string", set_entry(E, dtype=16), "model.safetensors"),
        ("dtype-twice", raw_entry(E, '{"dtype": "BF16", "dtype": "F32", "shape": [128], "data_offsets": [0, 256]}'), "model.safetensors"),
        ("entry-not-object", raw_entry(E, '[1, 2]'), "model.safetensors"),
        ("duplicate-name", lambda it, m, hb, d: st(jraw(it[:E] + [(it[E][0], it[E][1]), (it[E][0], it[E + 1][1])] + it[E + 2:], m), d), "model.safetensors"),
        ("name-invalid-utf8", rename(E, b'"model.layers.0.\xff\xfe"'), "model.safetensors"),
        ("name-overlong-utf8", rename(E, b'"model.\xc0\xae.weight"'), "model.safetensors"),
        ("name-surrogate-escape", rename(E, b'"model.\\ud800.weight"'), "model.safetensors"),
        ("name-nul-escape", rename(E, b'"' + it_name_nul() + b'"'), "model.safetensors"),
        ("name-raw-control", rename(E, b'"model.\x01.weight"'), "model.safetensors"),
        ("name-__metadata__-twice", lambda it, m, hb, d: st(jraw(it, m)[:-1] + b', "__metadata__": {"a": "b"}}', d), "model.safetensors"),
        ("metadata-not-strings", lambda it, m, hb, d: st(jraw(it, {"format": "pt", "n": 3}), d), "model.safetensors"),
        ("metadata-not-object", lambda it, m, hb, d: st(jraw(it, ["pt"]), d), "model.safetensors"),
    ]
    good = [
        ("padded-with-spaces", lambda it, m, hb, d: st(hb + b" " * 13, d)),
        ("json-order-reversed", lambda it, m, hb, d: st(jraw(list(reversed(it)), m), d)),
        ("zero-size-and-rank-0-extras", lambda it, m, hb, d: st(jraw(it + [("extra.empty", {"dtype": "F32", "shape": [0, 7], "data_offsets": [len(d), len(d)]}),
                                                                        ("extra.scalar", {"dtype": "I64", "shape": [], "data_offsets": [len(d), len(d) + 8]})], m), d + bytes(8))),
    ]
    return bad, good


def tolerated_cases():
    """Legal by the spec's own words, with the warning (if any) that must be printed."""
    cfg = lambda **kw: cfg_case(lambda c: c.update(kw))
    first = lambda t: sorted(t["model"]["vocab"], key=lambda k: t["model"]["vocab"][k])[5]
    return [
        # C4: dispatch on architectures[0] when it is a string, else on model_type
        ("cfg-architectures-not-list", "tiny-llama", cfg(architectures="LlamaForCausalLM"), None),
        # C3: text_config is used only when it is an object
        ("cfg-text-config-not-object", "tiny-llama", cfg(text_config=[1]), None),
        # ids beyond the embedding rows cannot be in the vindex: a warning names them
        ("tok-id-beyond-embeddings", "tiny-llama",
         tok_json(lambda t: t["model"]["vocab"].__setitem__(first(t), 5000)), "tokenizer.json"),
    ]


def it_name_nul():
    return b"model.layers.0.mlp.gate_proj\\u0000.weight"


# ------------------------------------------------------------ sharded index (tiny-qwen3)


def index_case(edit):
    def mutate(d):
        p = os.path.join(d, "model.safetensors.index.json")
        j = json.load(open(p))
        edit(j, d)
        os.unlink(p)
        json.dump(j, open(p, "w"))
    return mutate


def first_key(j, shard_no=1):
    return sorted(k for k, v in j["weight_map"].items() if v.endswith(f"0000{shard_no}-of-00004.safetensors"))[0]


def attn_key(j):
    return sorted(k for k in j["weight_map"] if "self_attn" in k)[0]


def shard_cases():
    def move_to(shard):
        return lambda j, d: j["weight_map"].__setitem__(first_key(j), shard)

    return [
        ("index-missing-shard", move_to("model-00005-of-00004.safetensors"), "model-00005-of-00004.safetensors"),
        ("index-shard-dotdot", move_to("../model-00001-of-00004.safetensors"), "model.safetensors.index.json"),
        ("index-shard-slash", move_to("sub/model-00001-of-00004.safetensors"), "model.safetensors.index.json"),
        ("index-shard-hidden", move_to(".model-00001-of-00004.safetensors"), "model.safetensors.index.json"),
        ("index-shard-absolute", move_to("/etc/passwd"), "model.safetensors.index.json"),
        ("index-wrong-shard", move_to("model-00002-of-00004.safetensors"), "model-0000"),
        # an attention tensor: the extractor does not need it, so only C8 can catch it
        ("index-tensor-not-listed", lambda j, d: j["weight_map"].pop(attn_key(j)), "self_attn"),
        ("index-lists-absent-tensor", lambda j, d: j["weight_map"].__setitem__("model.layers.0.mlp.ghost.weight",
                                                                                "model-00001-of-00004.safetensors"), "ghost"),
        ("index-weight-map-array", lambda j, d: j.__setitem__("weight_map", list(j["weight_map"])), "model.safetensors.index.json"),
        ("index-weight-map-number", lambda j, d: j["weight_map"].__setitem__(first_key(j), 1), "model.safetensors.index.json"),
        ("index-no-weight-map", lambda j, d: j.pop("weight_map"), "model.safetensors.index.json"),
        ("index-shard-is-directory", lambda j, d: (os.mkdir(os.path.join(d, "model-00009-of-00004.safetensors")),
                                                   j["weight_map"].__setitem__(first_key(j), "model-00009-of-00004.safetensors")),
         "model-00009-of-00004.safetensors"),
        ("index-shard-empty-file", lambda j, d: (open(os.path.join(d, "model-00009-of-00004.safetensors"), "wb").close(),
                                                 j["weight_map"].__setitem__(first_key(j), "model-00009-of-00004.safetensors")),
         "model-00009-of-00004.safetensors"),
    ]


def shard_file_cases():
    def dup_across_shards(d):
        # C9: a tensor of shard 4 also present in shard 3 (appended there, tiled correctly)
        p3, p4 = (os.path.join(d, f"model-0000{i}-of-00004.safetensors") for i in (3, 4))
        h4, _ = split(p4)
        name = sorted(k for k in json.loads(h4) if k != "__metadata__")[0]
        hb, data = split(p3)
        items, meta = ordered(hb)
        items.append((name, {"dtype": "U8", "shape": [4], "data_offsets": [len(data), len(data) + 4]}))
        os.unlink(p3)
        open(p3, "wb").write(st(jraw(items, meta), data + b"abcd"))
    def corrupt_shard(d):
        p = os.path.join(d, "model-00003-of-00004.safetensors")
        b = open(p, "rb").read()
        os.unlink(p)
        open(p, "wb").write(b[:-7])
    return [("tensor-in-two-shards", dup_across_shards, "model-0000"),
            ("shard-truncated", corrupt_shard, "model-00003-of-00004.safetensors")]


# ------------------------------------------------------------ config.json


def cfg_case(edit, raw=None):
    def mutate(d):
        p = os.path.join(d, "config.json")
        if raw is not None:
            data = raw
        else:
            c = json.load(open(p))
            edit(c)
            data = json.dumps(c).encode()
        os.unlink(p)
        open(p, "wb").write(data)
    return mutate


def config_cases():
    s = lambda **kw: cfg_case(lambda c: c.update(kw))
    pop = lambda k: cfg_case(lambda c: c.pop(k))
    return [
        ("cfg-hidden-negative", s(hidden_size=-128), "hidden_size"),
        ("cfg-hidden-zero", s(hidden_size=0), "hidden_size"),
        ("cfg-hidden-2^31", s(hidden_size=2 ** 31), "hidden_size"),
        ("cfg-hidden-2^64", s(hidden_size=2 ** 64), "hidden_size"),
        ("cfg-hidden-1e308", s(hidden_size=1e308), "hidden_size"),
        ("cfg-hidden-fraction", s(hidden_size=128.5), "hidden_size"),
        ("cfg-hidden-string", s(hidden_size="128"), "hidden_size"),
        ("cfg-hidden-null", s(hidden_size=None), "hidden_size"),
        ("cfg-hidden-bool", s(hidden_size=True), "hidden_size"),
        ("cfg-layers-zero", s(num_hidden_layers=0), "num_hidden_layers"),
        ("cfg-layers-huge", s(num_hidden_layers=10 ** 9), "num_hidden_layers"),
        ("cfg-layers-fewer", s(num_hidden_layers=2), "model.layers.2"),
        ("cfg-layers-more", s(num_hidden_layers=5), "model.layers.4"),
        ("cfg-missing-layers", pop("num_hidden_layers"), "num_hidden_layers"),
        ("cfg-missing-intermediate", pop("intermediate_size"), "intermediate_size"),
        ("cfg-intermediate-negative", s(intermediate_size=-1), "intermediate_size"),
        ("cfg-intermediate-wrong", s(intermediate_size=257), "mismatch"),
        ("cfg-vocab-negative", s(vocab_size=-4096), "vocab_size"),
        ("cfg-vocab-huge", s(vocab_size=2 ** 40), "vocab_size"),
        ("cfg-vocab-wrong", s(vocab_size=4095), "mismatch"),
        ("cfg-array", cfg_case(None, b"[1, 2, 3]"), "config.json"),
        ("cfg-empty-object", cfg_case(None, b"{}"), "config.json"),
        ("cfg-empty-file", cfg_case(None, b""), "config.json"),
        ("cfg-trailing-garbage", cfg_case(None, open(os.path.join(FIX, "tiny-llama", "config.json"), "rb").read() + b"}x"), "config.json"),
        ("cfg-invalid-utf8", cfg_case(None, b'{"architectures": ["Llama\xff"], "model_type": "llama"}'), "config.json"),
        ("cfg-architectures-not-strings", s(architectures=[7], model_type="mamba"), "config.json"),
        ("cfg-architectures-empty", s(architectures=[], model_type="nonsense"), "config.json"),
        ("cfg-17MB", cfg_case(None, b'{"pad": "' + b"x" * (17 << 20) + b'"}'), "config.json"),
    ]


# ------------------------------------------------------------ tokenizer.json


def tok_case(fn):
    def mutate(d):
        p = os.path.join(d, "tokenizer.json")
        b = open(p, "rb").read()
        out = fn(b)
        os.unlink(p)
        open(p, "wb").write(out)
    return mutate


def tok_json(edit):
    def fn(b):
        t = json.loads(b)
        edit(t)
        return json.dumps(t).encode()
    return tok_case(fn)


def tokenizer_cases():
    first = lambda t: sorted(t["model"]["vocab"], key=lambda k: t["model"]["vocab"][k])[5]
    setid = lambda v: tok_json(lambda t: t["model"]["vocab"].__setitem__(first(t), v))
    return [
        ("tok-truncated-half", tok_case(lambda b: b[:len(b) // 2]), "tokenizer.json"),
        ("tok-truncated-last-byte", tok_case(lambda b: b.rstrip()[:-1]), "tokenizer.json"),
        ("tok-truncated-in-string", tok_case(lambda b: b[:b.index(b'"merges"') + 5]), "tokenizer.json"),
        ("tok-empty", tok_case(lambda b: b""), "tokenizer.json"),
        ("tok-id-negative", setid(-1), "tokenizer.json"),
        ("tok-id-2^31", setid(2 ** 31), "tokenizer.json"),
        ("tok-id-2^31-1-sparse", setid(2 ** 31 - 1), "tokenizer.json"),  # a dense table would be 16 GiB
        ("tok-id-2^53", setid(2 ** 53), "tokenizer.json"),
        ("tok-id-fraction", setid(5.5), "tokenizer.json"),
        ("tok-id-string", setid("5"), "tokenizer.json"),
        ("tok-id-null", setid(None), "tokenizer.json"),
        ("tok-added-id-clash", tok_json(lambda t: t["added_tokens"].append({"id": 7, "content": "<|clash|>", "special": True})), "tokenizer.json"),
        ("tok-added-id-beyond", tok_json(lambda t: t["added_tokens"].append({"id": 99999, "content": "<|far|>", "special": True})), "tokenizer.json"),
        ("tok-added-no-content", tok_json(lambda t: t["added_tokens"].append({"id": 4096})), "tokenizer.json"),
        ("tok-vocab-not-object", tok_json(lambda t: t["model"].__setitem__("vocab", [1, 2])), "tokenizer.json"),
        ("tok-model-missing", tok_json(lambda t: t.pop("model")), "tokenizer.json"),
        ("tok-model-type-unknown", tok_json(lambda t: t["model"].__setitem__("type", "WordLevelX")), "tokenizer.json"),
        ("tok-merges-not-list", tok_json(lambda t: t["model"].__setitem__("merges", {"a": "b"})), "tokenizer.json"),
        ("tok-merge-unknown-token", tok_json(lambda t: t["model"]["merges"].insert(0, ["\u00e9\u00e9\u00e9", "zz"])), "tokenizer.json"),
        ("tok-merge-three-parts", tok_json(lambda t: t["model"]["merges"].insert(0, ["a", "b", "c"])), "tokenizer.json"),
        ("tok-unigram-bad-score", tok_json(lambda t: t.__setitem__("model", {"type": "Unigram", "vocab": [["a", "x"]]})), "tokenizer.json"),
    ]


# ------------------------------------------------------------------ driver


def make_src(tmp, name, base):
    d = os.path.join(tmp, "src-" + name)
    os.mkdir(d)
    for f in os.listdir(os.path.join(FIX, base)):
        os.link(os.path.join(FIX, base, f), os.path.join(d, f))  # mutators unlink before writing
    return d


def leftovers(tmp, out_name):
    return [f for f in os.listdir(tmp) if f.startswith("." + out_name + ".vxtmp")]


def extract(src, out):
    r = subprocess.run([VINDEX, "extract", src, "-o", out, "--features", "8", "--top-k", "4"], capture_output=True,
                       timeout=300)
    return r.returncode, r.stderr.decode(errors="replace")


def expect_rejected(tmp, name, base, mutate, needle):
    src = make_src(tmp, name, base)
    mutate(src)
    out = os.path.join(tmp, "out-" + name)
    rc, err = extract(src, out)
    check(rc in (1, 2), f"{name}: exit {rc} (expected 1 or 2{'; signal %d' % -rc if rc < 0 else ''}); stderr {err[-300:]!r}")
    check(not SANITIZER.search(err), f"{name}: sanitizer report: {err[-1500:]}")
    check(not os.path.exists(out), f"{name}: something left at OUT")
    check(not leftovers(tmp, "out-" + name), f"{name}: temporary directory left behind")
    check(needle in err, f"{name}: message does not name {needle!r}: {err.strip()[:300]!r}")
    check(err.count("\n") <= 3 and len(err) > 20, f"{name}: message not one clear line: {err[:400]!r}")
    shutil.rmtree(src, ignore_errors=True)


def expect_accepted(tmp, name, base, mutate, warning=None):
    src = make_src(tmp, name, base)
    mutate(src)
    out = os.path.join(tmp, "out-" + name)
    rc, err = extract(src, out)
    check(rc == 0 and not SANITIZER.search(err), f"{name}: legal input rejected: exit {rc}: {err[-300:]!r}")
    if warning:
        check("warning" in err and warning in err, f"{name}: no warning naming {warning!r}: {err!r}")
    if rc == 0:
        r = subprocess.run([VINDEX, "verify", out], capture_output=True)
        check(r.returncode == 0, f"{name}: extracted vindex does not verify")
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(src, ignore_errors=True)


def main():
    if not os.access(VINDEX, os.X_OK):
        print(f"{VINDEX} not built")
        print("0 passed, 1 failed")
        sys.exit(1)
    tmp = tempfile.mkdtemp(prefix="vx-crafted-")
    n = 0
    try:
        bad, good = safetensors_cases()
        for name, fn, needle in bad:
            expect_rejected(tmp, name, "tiny-llama", st_case(fn), needle)
            n += 1
        for name, fn in good:
            expect_accepted(tmp, name, "tiny-llama", st_case(fn))
            n += 1
        for name, edit, needle in shard_cases():
            expect_rejected(tmp, name, "tiny-qwen3", index_case(edit), needle)
            n += 1
        for name, mutate, needle in shard_file_cases():
            expect_rejected(tmp, name, "tiny-qwen3", mutate, needle)
            n += 1
        for name, mutate, needle in config_cases():
            expect_rejected(tmp, name, "tiny-llama", mutate, needle)
            n += 1
        for name, mutate, needle in tokenizer_cases():
            expect_rejected(tmp, name, "tiny-llama", mutate, needle)
            n += 1
        for name, base, mutate, warning in tolerated_cases():
            expect_accepted(tmp, name, base, mutate, warning)
            n += 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{n} crafted checkpoints")
    finish()


if __name__ == "__main__":
    main()
