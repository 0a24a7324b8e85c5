#!/usr/bin/python3
"""t_tokenize.py — vx_tokenize against independent implementations.

1. The fixture's byte-level BPE against a Python GPT-2 BPE written here (the `re` module
   for the GPT-2 pre-tokenizer, the byte map as in bytes_to_unicode, merges by rank).
2. Hugging Face's own tokenizers library (Rust, via its Node.js binding, installed by
   `make deps` into .deps/tokref with the real tokenizer.json files of GPT-2, Llama 3,
   Qwen 3, GPT-4o, DeepSeek-V3, Llama 2 and Gemma 3; tests/tokref/install.sh) encodes
   tests/tokref/corpus.json with each file; every string's ids must equal ours.
3. The same for synthetic tokenizer.json files covering every normalizer, pre-tokenizer,
   split behaviour, model option and added-token flag the encoder implements
   (tests/tokref/variants.py).
4. Regex splits piece by piece: a Split pre-tokenizer with each pattern of
   variants.PATTERNS, the reference's token offsets against vx_regex_find_all's spans.
5. Every refused construct is refused with VX_EUNSUPPORTED.

The C side is driven through `test_vocab --tokenize FILE` / `--regex HEX` (hex-encoded
lines on stdin). Run from the repository root: /usr/bin/python3 tests/t_tokenize.py
Prints "N passed, N failed" last; exits 1 on failure. TOKREF_DIR overrides .deps/tokref.
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from vxtest import BDIR, BUILD, FIX, ROOT, VINDEX, bytes_to_unicode, check, failures, finish  # noqa: F401

sys.path.insert(0, os.path.join(ROOT, "tests", "tokref"))
import variants  # noqa: E402

TOK = os.path.join(ROOT, "tests/fixtures/tiny-llama/tokenizer.json")


# GPT-2's pattern with \p{L} ~ [^\W\d_], \p{N} ~ \d, and '_' (Pc) among the "other" class.
PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")


class Bpe:
    def __init__(self, path):
        t = json.load(open(path, encoding="utf-8"))
        m = t["model"]
        self.vocab = m["vocab"]
        self.ranks = {}
        for i, mg in enumerate(m["merges"]):
            pair = tuple(mg) if isinstance(mg, list) else tuple(mg.split(" ", 1))
            self.ranks.setdefault(pair, i)
        self.added = sorted((a["content"] for a in t["added_tokens"]), key=len, reverse=True)
        self.added_id = {a["content"]: a["id"] for a in t["added_tokens"]}
        self.enc = bytes_to_unicode()

    def word(self, w):
        sym = list(w)
        while len(sym) > 1:
            best = None
            for i in range(len(sym) - 1):
                r = self.ranks.get((sym[i], sym[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            sym[i:i + 2] = [sym[i] + sym[i + 1]]
        return [self.vocab[s] for s in sym]

    def encode(self, text):
        ids = []
        # split on added tokens, longest first
        pos = 0
        seg = 0
        while pos <= len(text):
            hit = next((a for a in self.added if text.startswith(a, pos)), None) if pos < len(text) else None
            if hit is None and pos < len(text):
                pos += 1
                continue
            for piece in PAT.findall(text[seg:pos]):
                ids += self.word("".join(self.enc[b] for b in piece.encode("utf-8")))
            if hit is None:
                break
            ids.append(self.added_id[hit])
            pos += len(hit)
            seg = pos
        return ids


def driver():
    exe = os.environ.get("VX_TEST_VOCAB") or os.path.join(ROOT, os.environ.get("BUILD", "build"), "tests/test_vocab")
    if os.path.exists(exe):
        return exe, None
    tmp = tempfile.mkdtemp()
    exe = os.path.join(tmp, "test_vocab")
    src = ["tests/test_vocab.c"] + ["format/%s.c" % f for f in ("common", "tokenizer", "tok_encode", "tok_model",
                                                                 "toktext", "tokregex", "unicode", "vocab")]
    cmd = ["cc", "-std=c11", "-D_GNU_SOURCE", "-O1", "-Iinclude", "-Iformat", *src,
           "-lcjson", "-lxxhash", "-lutf8proc", "-lcrypto", "-lm", "-o", exe]
    subprocess.run(cmd, cwd=ROOT, check=True)
    return exe, tmp


REF_DIR = os.environ.get("TOKREF_DIR") or os.path.join(ROOT, ".deps", "tokref")
MODELS = ["gpt2", "llama3", "qwen3", "gpt4o", "deepseek3", "llama2", "gemma3"]


def run_lines(cmd, lines, env=None):
    """Feed hex-encoded lines to a driver; its output lines (or None when it failed)."""
    p = subprocess.run(cmd, input="".join(x.encode().hex() + "\n" for x in lines), capture_output=True, text=True,
                       cwd=ROOT, env=env)
    out = p.stdout.split("\n")
    if p.returncode != 0 or len(out) < len(lines):
        print("driver %s failed (rc %d): %s" % (" ".join(cmd[:3]), p.returncode, p.stderr[-500:]), file=sys.stderr)
        return None
    return out[:len(lines)]


def node_ref(path, lines, offsets=False):
    env = dict(os.environ, TOKREF_DIR=REF_DIR)
    cmd = ["node", os.path.join(ROOT, "tests", "tokref", "encode.js"), path] + (["--offsets"] if offsets else [])
    return run_lines(cmd, lines, env)


def same_ids(ref, got):
    """Equal ids, or both refusing (the reference's and our messages differ)."""
    return ref == got or (ref.startswith("ERR") and got.startswith("ERR"))


def compare(name, path, exe, corpus):
    ref = node_ref(path, corpus)
    got = run_lines([exe, "--tokenize", path], corpus)
    if not check(ref is not None and got is not None, "%s: both sides ran" % name):
        return
    bad = 0
    for s, r, g in zip(corpus, ref, got):
        ok = same_ids(r, g)
        bad += not ok
        check(ok, "%s: %r: reference %s, vx_tokenize %s" % (name, s, r[:200], g[:200]))
    refused = sum(r.startswith("ERR") for r in ref)
    print("%-34s %d strings, %d differ%s" % (name, len(corpus), bad, ", %d refused by both" % refused if refused else ""))


def pieces_from_spans(text_bytes, spans):
    """Isolated split of text by match spans (byte offsets) → char-offset pieces."""
    cuts, prev = [], 0
    for a, b in spans:
        if a > prev:
            cuts.append((prev, a))
        if b > a:
            cuts.append((a, b))
        prev = b
    if prev < len(text_bytes):
        cuts.append((prev, len(text_bytes)))
    ch = lambda k: len(text_bytes[:k].decode("utf-8"))  # noqa: E731
    return " ".join("%d-%d" % (ch(a), ch(b)) for a, b in cuts)


def regex_tests(exe, corpus, tmp):
    bad_total = 0
    for pat in variants.PATTERNS:
        tok = {"pre_tokenizer": {"type": "Split", "pattern": {"Regex": pat}, "behavior": "Isolated", "invert": False},
               "model": {"type": "WordLevel", "vocab": {"[UNK]": 0}, "unk_token": "[UNK]"}}
        path = os.path.join(tmp, "split.json")
        json.dump(tok, open(path, "w", encoding="utf-8"), ensure_ascii=False)
        ref = node_ref(path, corpus, offsets=True)
        got = run_lines([exe, "--regex", pat.encode().hex()], corpus)
        if not check(ref is not None and got is not None and not got[0].startswith("ERR"),
                     "regex %r: both sides ran (%s)" % (pat, got[0] if got else "")):
            continue
        for s, r, g in zip(corpus, ref, got):
            spans = [tuple(map(int, x.split("-"))) for x in g.split()]
            mine = pieces_from_spans(s.encode(), spans)
            ok = mine == r
            bad_total += not ok
            check(ok, "regex %r on %r: reference pieces %s, ours %s" % (pat, s, r[:200], mine[:200]))
    print("%-34s %d patterns x %d strings, %d differ" % ("regex splits", len(variants.PATTERNS), len(corpus), bad_total))


CLASSES = ["\\w", "[\\w]", "\\W", "[^\\w]", "\\s", "[\\s]", "\\d", "[\\d]", "\\h", "\\p{L}", "\\p{Lu}",
           "\\p{Ll}", "\\p{Lt}", "\\p{Lm}", "\\p{Lo}", "\\p{M}", "\\p{N}", "\\p{Nl}", "\\p{No}", "\\p{P}", "\\p{S}",
           "\\p{Z}", "\\p{C}", "\\p{Cf}", "[^\\s\\p{L}\\p{N}]", "(?i)[k-s]", "(?i)\u017f", "\\b."]


def class_tests(exe, tmp):
    """Which characters each class matches, over every code point both Unicode versions
    assign (Python's unicodedata is the older one), in lines of 500 characters."""
    import unicodedata
    cps = [c for c in range(1, 0x30000) if not 0xD800 <= c <= 0xDFFF and unicodedata.category(chr(c)) != "Cn"
           and c != 0x0A]
    lines = ["".join(chr(c) for c in cps[i:i + 500]) for i in range(0, len(cps), 500)]
    for pat in CLASSES:
        tok = {"pre_tokenizer": {"type": "Split", "pattern": {"Regex": pat}, "behavior": "Removed", "invert": True},
               "model": {"type": "WordLevel", "vocab": {"[UNK]": 0}, "unk_token": "[UNK]"}}
        path = os.path.join(tmp, "class.json")
        json.dump(tok, open(path, "w", encoding="utf-8"), ensure_ascii=False)
        ref = node_ref(path, lines, offsets=True)
        got = run_lines([exe, "--regex", pat.encode().hex()], lines)
        if not check(ref is not None and got is not None and not got[0].startswith("ERR"), "class %r: both sides ran" % pat):
            continue
        diff = []
        for line, r, g in zip(lines, ref, got):
            rs = set()
            for x in r.split():
                a, b = map(int, x.split("-"))
                rs.update(line[a:b])
            gs = set()
            raw = line.encode()
            for x in g.split():
                a, b = map(int, x.split("-"))
                gs.update(raw[a:b].decode())
            diff += sorted(rs ^ gs)
        check(not diff, "class %r: %d characters differ: %s" % (pat, len(diff), " ".join("U+%04X" % ord(c) for c in diff[:20])))
    print("%-34s %d classes x %d characters" % ("character classes", len(CLASSES), len(cps)))


# Constructs the encoder refuses: each must make vx_tokenize fail with VX_EUNSUPPORTED (-5).
REFUSED = [
    ("pre_tokenizer", {"type": "UnicodeScripts"}),
    ("normalizer", {"type": "Precompiled", "precompiled_charsmap": ""}),
    ("pre_tokenizer", {"type": "Split", "pattern": {"Regex": "(?<=a)b"}, "behavior": "Isolated", "invert": False}),
    ("pre_tokenizer", {"type": "Split", "pattern": {"Regex": "(a)\\1"}, "behavior": "Isolated", "invert": False}),
    ("pre_tokenizer", {"type": "Split", "pattern": {"Regex": "(?>ab)"}, "behavior": "Isolated", "invert": False}),
    ("pre_tokenizer", {"type": "Split", "pattern": {"Regex": "a*+"}, "behavior": "Isolated", "invert": False}),
    ("pre_tokenizer", {"type": "Split", "pattern": {"Regex": "\\p{Han}"}, "behavior": "Isolated", "invert": False}),
    ("pre_tokenizer", {"type": "Split", "pattern": {"Regex": "[[:alpha:]]"}, "behavior": "Isolated", "invert": False}),
    ("pre_tokenizer", {"type": "Split", "pattern": {"Regex": "[a-z&&[^x]]"}, "behavior": "Isolated", "invert": False}),
    ("pre_tokenizer", {"type": "Split", "pattern": {"Regex": "(?m)."}, "behavior": "Isolated", "invert": False}),
    ("model", {"type": "BPE", "dropout": 0.1, "vocab": {"a": 0}, "merges": []}),
    ("model", {"type": "WordLevel", "vocab": {"[UNK]": 0, "a": 1, "\x00": 2}, "unk_token": "[UNK]"}),
]
# Files the reference reads differently from what they say: refused with VX_ECORRUPT (-4).
INCONSISTENT = [
    # an added token's id is not the one the reference assigns it (the model's size on)
    ("added_tokens", [{"id": 7, "content": "<x>", "special": True}]),
]


def refused_tests(exe, tmp):
    for where, comp in REFUSED:
        tok = {"model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "a": 1}, "unk_token": "[UNK]"}}
        tok[where] = comp
        path = os.path.join(tmp, "refused.json")
        json.dump(tok, open(path, "w", encoding="utf-8"))
        got = run_lines([exe, "--tokenize", path], ["a b"])
        check(got is not None and got[0] == "ERR -5", "%s %s: expected a refusal (ERR -5), got %s" % (where, comp, got))
    for where, comp in INCONSISTENT:
        tok = {"model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "a": 1}, "unk_token": "[UNK]"}, where: comp}
        path = os.path.join(tmp, "inconsistent.json")
        json.dump(tok, open(path, "w", encoding="utf-8"))
        got = run_lines([exe, "--tokenize", path], ["a b"])
        check(got is not None and got[0] == "ERR -4", "%s %s: expected ERR -4, got %s" % (where, comp, got))


def reference_tests(exe):
    have = (shutil.which("node") and os.path.isdir(os.path.join(REF_DIR, "node_modules", "tokenizers")) and
            all(os.path.exists(os.path.join(REF_DIR, "models", m + ".json")) for m in MODELS))
    if not check(have, "the reference tokenizer is not installed in %s: run `make deps`" % REF_DIR):
        return
    corpus = json.load(open(os.path.join(ROOT, "tests", "tokref", "corpus.json"), encoding="utf-8"))
    for m in MODELS:
        compare(m, os.path.join(REF_DIR, "models", m + ".json"), exe, corpus)
    tmp = tempfile.mkdtemp()
    try:
        for name, tok in variants.variants(os.path.join(REF_DIR, "models", "gpt2.json"), corpus):
            path = os.path.join(tmp, name + ".json")
            json.dump(tok, open(path, "w", encoding="utf-8"), ensure_ascii=False)
            compare(name, path, exe, corpus)
        regex_tests(exe, corpus, tmp)
        class_tests(exe, tmp)
        refused_tests(exe, tmp)
    finally:
        shutil.rmtree(tmp)


def main():
    bpe = Bpe(TOK)
    rnd = random.Random(1234)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'\"-_()[]{}\n\t  éüßñøçåÉ"
    inputs = [
        " Paris", " Parisianism", "unbelievable", "Hello, world! It's 2024.\n\n  ok",
        "The quick brown fox jumps over the lazy dog.", "I'm sure they'll say we'd've won",
        "  leading spaces", "trailing spaces   ", "\n\n\nnewlines\n", "tabs\tand\tmore\t\t",
        "x_y__z", "3.14159 + 2,718 = 5.86", " café résumé naïve", "Straße Größe", "ÉCOLE",
        "<|endoftext|>The<|pad|> end<|endoftext|>", "don't DON'T 'tis", "a'b's", "...!!!???",
        "", " ", "  ", "\n", "", "email@example.com http://x.y/z?q=1&r=2",
    ]
    inputs += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 40))) for _ in range(300)]
    vocab_words = [w for w in bpe.vocab if not w.startswith("<|")]
    dec = {c: b for b, c in bpe.enc.items()}
    for w in rnd.sample(vocab_words, 200):
        raw = bytes(dec[c] for c in w)
        try:
            inputs.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            pass
    # '—' (U+2014) is punctuation: the GPT-2 regex splits it off (it once was a "letter")
    inputs.append("word\u2014word \u00bfqu\u00e9? \u0661\u0662 x\u00a0y")

    exe, tmp = driver()
    proc = subprocess.run([exe, "--tokenize", TOK], input="".join(s.encode().hex() + "\n" for s in inputs),
                          capture_output=True, text=True, cwd=ROOT)
    out = proc.stdout.split("\n")
    check(proc.returncode == 0 and len(out) >= len(inputs), "driver ran (rc %d): %s" % (proc.returncode, proc.stderr))
    for i, s in enumerate(inputs):
        got = out[i] if i < len(out) else "missing"
        want = " ".join(map(str, bpe.encode(s)))
        check(got == want, "%r: C %s, Python %s" % (s, got, want))
    reference_tests(exe)
    if tmp:
        subprocess.run(["rm", "-rf", tmp])
    finish()


if __name__ == "__main__":
    sys.exit(main())
