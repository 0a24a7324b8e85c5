#!/usr/bin/python3
"""t_tokenize.py — differential test of vx_tokenize against an independent Python GPT-2
byte-level BPE over the fixture tokenizer.json.

The Python side uses the `re` module for the GPT-2 pre-tokenizer (with Unicode letter /
digit classes), the byte map built as in `bytes_to_unicode`, and BPE by merge rank; the C
side is driven through `test_vocab --tokenize` (hex-encoded lines on stdin). Inputs are
ASCII and non-ASCII *letters*, where the C approximation (any non-ASCII sequence is a
letter, spec/vocab-bin.md §5) agrees with the real regex; one known divergence (a
non-ASCII punctuation mark) is checked to differ only in the pre-tokenization.

Run from the repository root: /usr/bin/python3 tests/t_tokenize.py
Prints "N passed, N failed" last; exits 1 on failure.
"""
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from vxtest import BDIR, BUILD, FIX, ROOT, VINDEX, check, failures, finish  # noqa: F401

TOK = os.path.join(ROOT, "tests/fixtures/tiny-llama/tokenizer.json")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


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
    src = ["tests/test_vocab.c", "format/common.c", "format/tokenizer.c", "format/vocab.c"]
    cmd = ["cc", "-std=c11", "-D_GNU_SOURCE", "-O1", "-Iinclude", "-Iformat", *src,
           "-lcjson", "-lxxhash", "-lcrypto", "-lm", "-o", exe]
    subprocess.run(cmd, cwd=ROOT, check=True)
    return exe, tmp


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
    # one known divergence: '—' (U+2014, punctuation) is a letter to the C pre-tokenizer
    diverge = "word—word"

    exe, tmp = driver()
    lines = inputs + [diverge]
    proc = subprocess.run([exe, "--tokenize", TOK], input="".join(s.encode().hex() + "\n" for s in lines),
                          capture_output=True, text=True, cwd=ROOT)
    out = proc.stdout.split("\n")
    check(proc.returncode == 0 and len(out) >= len(lines), "driver ran (rc %d): %s" % (proc.returncode, proc.stderr))
    for i, s in enumerate(inputs):
        got = out[i] if i < len(out) else "missing"
        want = " ".join(map(str, bpe.encode(s)))
        check(got == want, "%r: C %s, Python %s" % (s, got, want))
    # the divergent case still spells its input with vocabulary pieces, only split differently
    got = out[len(inputs)] if len(out) > len(inputs) else "ERR"
    ids = [int(x) for x in got.split()] if not got.startswith("ERR") else []
    inv = {v: k for k, v in bpe.vocab.items()}
    spelled = "".join(inv[i] for i in ids)
    check(spelled == "".join(bpe.enc[b] for b in diverge.encode()), "divergent case spells its input: %s" % got)
    if tmp:
        subprocess.run(["rm", "-rf", tmp])
    finish()


if __name__ == "__main__":
    sys.exit(main())
