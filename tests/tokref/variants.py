"""variants.py — synthetic tokenizer.json files for tests/t_tokenize.py, one per
combination of components the real files of tests/tokref/models/ leave out: every
normalizer, pre-tokenizer, split behaviour and model option the encoder implements, and
added tokens with each flag. Vocabularies are GPT-2's (byte-level variants) or trained
here on the corpus by small deterministic BPE / Unigram / WordPiece builders; the
reference library and vx_tokenize then encode the same corpus with each file.

variants(gpt2_json_path, corpus) -> [(name, tokenizer_dict)]
"""
import collections
import copy
import json
import math

BL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}


def _words(corpus):
    # U+0000 stays out of every vocabulary: the encoder refuses files holding it (its JSON
    # reader cannot keep the character), which t_tokenize.py checks separately
    return [w.replace("\x00", "") for s in corpus for w in s.split() if w.replace("\x00", "")]


def train_bpe(words, n_merges, prefix=None, suffix=None, alphabet=None):
    """A plain BPE trainer: most frequent adjacent pair first (ties by the pair's text)."""
    freq = collections.Counter(words)
    seqs = {}
    for w in freq:
        chars = [c for c in w if alphabet is None or c in alphabet]
        if not chars:
            continue
        sym = [c if i == 0 or not prefix else prefix + c for i, c in enumerate(chars)]
        if suffix:
            sym[-1] += suffix
        seqs[w] = sym
    vocab = []
    for sym in seqs.values():
        for s in sym:
            if s not in vocab:
                vocab.append(s)
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, sym in seqs.items():
            for a, b in zip(sym, sym[1:]):
                pairs[(a, b)] += freq[w]
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        new = a + (b[len(prefix):] if prefix and b.startswith(prefix) else b)
        merges.append([a, b])
        if new not in vocab:
            vocab.append(new)
        for w, sym in seqs.items():
            out, i = [], 0
            while i < len(sym):
                if i + 1 < len(sym) and sym[i] == a and sym[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            seqs[w] = out
    return vocab, merges


def unigram_vocab(corpus, byte_fallback, drop=""):
    """Pieces: <unk>, every character but those in `drop`, ▁ + frequent words and their
    prefixes, scored by log frequency; <0xNN> pieces when byte_fallback."""
    chars = collections.Counter(c for s in corpus for c in s.replace(" ", "\u2581") if c not in drop + "\x00")
    words = collections.Counter("\u2581" + w for w in _words(corpus))
    pieces = collections.Counter()
    for w, f in words.items():
        for k in range(2, min(len(w), 8) + 1):
            pieces[w[:k]] += f
    total = sum(pieces.values()) + sum(chars.values())
    vocab = [["<unk>", 0.0]]
    for c, f in sorted(chars.items()):
        vocab.append([c, math.log(f / total) - 2.0])
    for p, f in sorted(pieces.items()):
        if f >= 2 and p not in chars:
            vocab.append([p, math.log(f / total)])
    if byte_fallback:
        vocab += [["<0x%02X>" % b, -30.0] for b in range(256)]
    return vocab


def wordpiece_vocab(corpus, lower):
    words = collections.Counter((w.lower() if lower else w) for w in _words(corpus))
    vocab = ["[UNK]", "[CLS]", "[SEP]"]
    seen = set(vocab)

    def add(t):
        if t not in seen:
            seen.add(t)
            vocab.append(t)
    for w, f in sorted(words.items()):
        for c in w:
            add(c)
            add("##" + c)
        if f >= 2 and len(w) <= 12:
            add(w)
            for k in range(2, len(w)):
                add("##" + w[k:])
    return {t: i for i, t in enumerate(vocab)}


def _bpe_model(vocab, merges, **kw):
    m = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
         "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
         "vocab": {t: i for i, t in enumerate(vocab)}, "merges": merges}
    m.update(kw)
    return m


def _tok(model, normalizer=None, pre=None, added=None):
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added or [],
            "normalizer": normalizer, "pre_tokenizer": pre, "post_processor": None, "decoder": None, "model": model}


def _added(i, content, **flags):
    a = {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": False}
    a.update(flags)
    return a


def variants(gpt2_path, corpus):
    g = json.load(open(gpt2_path, encoding="utf-8"))
    out = []

    def gv(name, normalizer, pre, added=None):
        t = copy.deepcopy(g)
        t["normalizer"] = normalizer
        t["pre_tokenizer"] = pre
        if added is not None:
            t["added_tokens"] = added
        out.append((name, t))

    seq = lambda *n: {"type": "Sequence", "normalizers": list(n)}       # noqa: E731
    pseq = lambda *p: {"type": "Sequence", "pretokenizers": list(p)}    # noqa: E731
    split = lambda pat, beh, inv=False, kind="Regex": {"type": "Split", "pattern": {kind: pat}, "behavior": beh,  # noqa: E731
                                                      "invert": inv}
    gv("gpt2-nfkd-lower-digits-punct",
       seq({"type": "NFKD"}, {"type": "StripAccents"}, {"type": "Lowercase"}),
       pseq({"type": "Digits", "individual_digits": True}, {"type": "Punctuation", "behavior": "MergedWithPrevious"},
            dict(BL, add_prefix_space=True, use_regex=True)))
    gv("gpt2-strip-replace-whitespace",
       seq({"type": "Strip", "strip_left": True, "strip_right": True},
           {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}),
       pseq({"type": "Whitespace"}, BL))
    gv("gpt2-nfkc-split-string-digits",
       {"type": "NFKC"},
       pseq(split(" ", "MergedWithNext", kind="String"), {"type": "Digits", "individual_digits": False}, BL))
    gv("gpt2-nmt-delimiter-fixed",
       {"type": "Nmt"},
       pseq({"type": "CharDelimiterSplit", "delimiter": "e"}, {"type": "FixedLength", "length": 4}, BL))
    gv("gpt2-contiguous-removed-invert",
       seq({"type": "NFD"}, {"type": "Strip", "strip_left": False, "strip_right": True}),
       pseq(split("\\p{P}", "Contiguous"), split("[^\\s]+", "Removed", True), split("(?i)[aeiou]", "MergedWithPrevious"),
            BL))
    gv("gpt2-bytelevel-normalizer", {"type": "ByteLevel"}, pseq(split("\u0120", "MergedWithNext", kind="String")))
    gv("gpt2-wssplit-punct-lazy",
       {"type": "Prepend", "prepend": "#"},
       pseq({"type": "WhitespaceSplit"}, {"type": "Punctuation", "behavior": "Isolated"},
            split("\\w+?(?=\\d)|\\d{2,}?", "Isolated"), BL))
    # ids as the reference assigns them: model.vocab's when the content is there ("hello",
    # "AB", and "\u00bd", the raw form of byte 0xBD), else the next id from the vocab's size
    gv("gpt2-added-flags", {"type": "Lowercase"}, dict(BL, use_regex=True), [
        _added(50256, "<|endoftext|>", special=True),
        _added(g["model"]["vocab"]["hello"], "hello", single_word=True, normalized=True),
        _added(50257, "<mask>", lstrip=True, special=True),
        _added(50258, "[X]", rstrip=True),
        _added(g["model"]["vocab"]["AB"], "AB", normalized=True),
        _added(50259, "y'all", lstrip=True, rstrip=True, normalized=True),
        _added(g["model"]["vocab"]["\u00bd"], "\u00bd", single_word=True),
    ])

    words = _words(corpus)
    # BPE trained here: end_of_word_suffix, continuing_subword_prefix with unk, duplicates
    v, m = train_bpe(words, 300, suffix="</w>")
    out.append(("bpe-suffix-unk", _tok(_bpe_model(["<unk>"] + v, m, unk_token="<unk>", end_of_word_suffix="</w>"),
                                       {"type": "Lowercase"}, {"type": "WhitespaceSplit"})))
    alpha = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,'")
    v, m = train_bpe(words, 200, prefix="##", alphabet=alpha)
    out.append(("bpe-prefix-fuse-unk", _tok(_bpe_model(["[UNK]"] + v, m, unk_token="[UNK]", continuing_subword_prefix="##",
                                                       fuse_unk=True), None, {"type": "BertPreTokenizer"})))
    out.append(("bpe-prefix-unk-nofuse", _tok(_bpe_model(["[UNK]"] + v, m, unk_token="[UNK]",
                                                         continuing_subword_prefix="##"), None,
                                              {"type": "BertPreTokenizer"})))
    dv = ["a", "b", "c", "d", "ab", "bc", "abc", "cd", "abcd"]
    dm = [["b", "c"], ["a", "b"], ["ab", "c"], ["c", "d"], ["b", "c"], ["abc", "d"]]
    out.append(("bpe-duplicate-merge", _tok(_bpe_model(dv, dm), None,
                                            pseq(split("[abcd]+", "Isolated"), split("[^abcd]+", "Removed")))))
    v, m = train_bpe(words, 150)
    bv = ["<unk>"] + v + ["<0x%02X>" % b for b in range(256)]
    out.append(("bpe-bytefallback-ignore-merges",
                _tok(_bpe_model(bv, m, unk_token="<unk>", byte_fallback=True, fuse_unk=True, ignore_merges=True),
                     seq({"type": "NFKC"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}),
                     split("\u2581", "MergedWithPrevious", kind="String"))))
    # Unigram
    uv = unigram_vocab(corpus, False, drop="\u00bd\u00d7")
    meta = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    out.append(("unigram-metaspace", _tok({"type": "Unigram", "unk_id": 0, "vocab": uv, "byte_fallback": False},
                                          None, meta)))
    ub = unigram_vocab(corpus, True, drop="\u00bd\u00d7\u4e16\U0001f600")
    out.append(("unigram-first-bytefallback-added",
                _tok({"type": "Unigram", "unk_id": 0, "vocab": ub, "byte_fallback": True}, {"type": "NFKC"},
                     dict(meta, prepend_scheme="first", split=False),
                     [_added(len(ub), "<sep>", special=True), _added(len(ub) + 1, "\n\n", special=True)])))
    out.append(("unigram-prepend-replace", _tok({"type": "Unigram", "unk_id": 0, "vocab": uv},
                                                seq({"type": "Prepend", "prepend": "\u2581"},
                                                    {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}),
                                                None)))
    # WordPiece, WordLevel
    wp = wordpiece_vocab(corpus, True)
    out.append(("bert-wordpiece", _tok({"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                                        "max_input_chars_per_word": 100, "vocab": wp},
                                       {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                                        "strip_accents": None, "lowercase": True}, {"type": "BertPreTokenizer"})))
    wc = wordpiece_vocab(corpus, False)
    out.append(("wordpiece-cased-whitespace", _tok({"type": "WordPiece", "unk_token": "[UNK]",
                                                    "continuing_subword_prefix": "##", "max_input_chars_per_word": 8,
                                                    "vocab": wc},
                                                   {"type": "BertNormalizer", "clean_text": True,
                                                    "handle_chinese_chars": False, "strip_accents": True,
                                                    "lowercase": False}, {"type": "Whitespace"})))
    wl = {"[UNK]": 0}
    for w in sorted(set(words)):
        wl.setdefault(w, len(wl))
    out.append(("wordlevel", _tok({"type": "WordLevel", "vocab": wl, "unk_token": "[UNK]"}, None,
                                  pseq({"type": "WhitespaceSplit"}, {"type": "Punctuation", "behavior": "Contiguous"}))))
    return out


# Patterns whose splits are compared piece by piece (a Split pre-tokenizer, Isolated).
PATTERNS = [
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*",
    "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
    "\\s+", "\\S+", "\\w+|[^\\w\\s]+", "\\d+|\\D+", "\\h+", "\\W", ".", ".+", "(?:\\r\\n|\\n|\\r)",
    "(?i:ab|cd)+", "(?i)[a-f]+", "(?i)\u00e9|\u017f|k", "a*?b", "\\p{L}+?", "[a-c]{2,3}", "\\p{Lu}\\p{Ll}*",
    "\\d{1,2}", "\\d{2,}", "\\d{,2}x", "\\b\\w", "\\B.", "^\\s*|\\s*$", "^.|.$", "\\A.|.\\z|\\Z",
    "(?=\\p{N})\\p{N}{2}", "(?!a)\\w", "x*", "a|", "(a|ab)(c|bcd)", "[^\\p{P}\\p{S}]+", "\\P{L}+", "\\p{^L}+",
    "[\\x{4e00}-\\x{9fff}]+", "\\u00e9+|\\x41", "[-a]+", "[a\\-z]+", "[\\w.]+@[\\w.]+", "\\p{Zs}|\\p{Cc}", "\\p{Nd}\\p{No}*",
    "\\p{Sc}\\p{N}+", "\\p{Sm}|\\p{So}", "\\p{Pi}|\\p{Pf}|\\p{Ps}|\\p{Pe}", "\\p{Mn}+", "(?<w>\\w)\\w", "\\{|\\}|{",
    "a{2}|b{1,}|c{0,1}", "\\t|\\n|\\r|\\f|\\v|\\e|\\a", "\\0|\\x7f",
]
