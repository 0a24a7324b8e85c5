#!/usr/bin/python3
"""mkcorpus.py — writes corpus.json, the strings tests/t_tokenize.py encodes with every
reference tokenizer: hand-picked cases for each construct the tokenizers treat specially
(contractions in any case, digit groups, whitespace and newline runs, punctuation glued to
words, CJK, emoji, code, decomposed and compatibility characters, special-token text), then
seeded random joins of the same fragments. Deterministic; rerun after editing."""
import json
import os
import random

CASES = [
    "y'all", "Y'ALL", ".com", "example.com", "(x", "<div", "</div>", "/path/to/file", "I'M", "I'm", "i'M",
    "2025", " 2025", "12345678901", "3.14159", "1,234,567.89", "0x1F", "v2.0.1", "$100", "100%",
    "\r\n", "a\r\nb", ".\n\n\n", "end.\n\n\nNext", "\n", "\n\n", " \n ", "\t\t", "   ", " ", "",
    "a  b", "a   b", "a\t\tb", "  leading", "trailing  ", "x \n y", "\r", "\r\r\n\n", "line1\nline2\r\nline3",
    "don't", "DON'T", "won't", "they're", "THEY'RE", "we've", "WE'VE", "I'd", "I'D", "she'll", "SHE'LL",
    "it's", "IT'S", "'s", "'S", "'tis", "rock'n'roll", "O'Neil", "'quoted'", "\u2018curly\u2019 it\u2019s",
    "caf\u00e9", "cafe\u0301", "Cafe\u0301 na\u00efve", "nai\u0308ve", "\u00c5ngstr\u00f6m", "A\u030angstro\u0308m",
    "\u00bd", "\u00d7", "\u00bd cup", "2\u00d73", "x\u00b2 + y\u00b2", "\ufb01le", "\u2460\u2461", "\u2122", "\uff21\uff22\uff23",
    "\uff11\uff12\uff13", "\u0661\u0662\u0663", "\u0967\u0968", "\u2167", "\u00b5s", "\u212b", "\u2126",
    "\u4f60\u597d\u4e16\u754c", "\u6771\u4eac\u3067\u3059", "\u3053\u3093\u306b\u3061\u306f", "\u30ab\u30bf\u30ab\u30ca",
    "\ud55c\uad6d\uc5b4", "\u4e2d\u6587 English \u6df7\u5408", "\u3002\u3001\uff01", "\u3000full\u3000width\u3000space",
    "\u0645\u0631\u062d\u0628\u0627", "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
    "\u0417\u0434\u0440\u0430\u0432\u0441\u0442\u0432\u0443\u0439", "\u03a3\u03af\u03c3\u03c5\u03c6\u03bf\u03c2", "\u00dfe STRASSE",
    "\U0001f600", "\U0001f44d\U0001f3fd", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1eb\U0001f1f7", "\u2764\ufe0f",
    "hi \U0001f600!", "\U0001f600\U0001f600\U0001f600", "\u2603", "\u20ac5", "\u00a35", "\u00a5", "\u2192 \u21d2",
    "def f(x):\n    return x**2\n", "int main(void) { return 0; }", "for (i = 0; i < n; i++) {", "a->b", "x != y",
    "if x == 1:\n\tpass", "<div class=\"a\">text</div>", "{\"key\": [1, 2, 3]}", "SELECT * FROM t WHERE id=1;",
    "https://huggingface.co/docs?q=1&r=2#top", "user@example.com", "C:\\Users\\me", "~/.bashrc", "#include <stdio.h>",
    "    indented code", "// comment", "/* block */", "console.log('hi');", "x_y__z", "__init__", "camelCaseWord",
    "snake_case_word", "HTTPServerError", "ALLCAPS", "MiXeD", "a.b.c", "...", "!!!", "?!", "--", "---", "-- x",
    "\u2014dash\u2014", "\u2026", "\u00ab\u00bb", "\u00bfQu\u00e9?", "\u00a1Hola!", "a\u00a0b", "a\u2009b", "a\u200bb", "a\u2028b",
    "\u0301", "a\u0301\u0302", "\u200d", "\ufeffbom", "\x00", "\x01ctrl", "\x7f", "tab\there", "\u0085", "\x0b\x0c",
    "<|endoftext|>", "a<|endoftext|>b", "<s>", "</s>", "<unk>", "<bos>", "<start_of_turn>user\nhi<end_of_turn>",
    "<|im_start|>user\nhi<|im_end|>", "<|begin_of_text|>x", "<pad>", "[INST] hi [/INST]", "<0x41>", "\u2581", "\u2581x",
    " Paris", "Paris", " paris", "PARIS", " Parisian", "unbelievable", "antidisestablishmentarianism",
    "The quick brown fox jumps over the lazy dog.", "Hello, world! It's 2024.\n\n  ok",
    "The year 1999 and 2000000 items", "pi=3.14159265358979", "phone: +1 (555) 123-4567",
    "\u0130stanbul", "\u0131", "\u017f", "'\u017f", "\u212a", "\u01c5", "\u1e9e",
]

FRAGS = [
    "the", "The", "THE", "word", "Paris", "caf\u00e9", "cafe\u0301", "2025", "7", "42", "3.5", "1,000", "y'all", "I'M",
    "don't", "it's", "'s", "'LL", ".com", "(x", "<div", "/path", "\u4f60\u597d", "\u3053\u3093", "\ud55c",
    "\U0001f600", "\U0001f44d\U0001f3fd", "\u00bd", "\u00d7", "\u2122", "\ufb01", "foo()", "x+=1", "a_b", "{}", "[]",
    "<|endoftext|>", "<s>", "\u2581", "!!", "?", ".", ",", ";", "-", "\u2014", "\u00e9t\u00e9", "na\u00efve",
    "\u0645\u0631\u062d\u0628\u0627", "\u0928\u092e\u0938\u094d\u0924\u0947", "#", "@", "$", "%", "&", "*",
]
SEPS = [" ", " ", " ", "", "", "  ", "   ", "\n", "\n\n", "\r\n", "\t", " \n", "\u00a0", "\u3000", ".\n\n\n"]


def main():
    rnd = random.Random(20251)
    corpus = list(CASES)
    for _ in range(560 - len(CASES)):
        k = rnd.randint(1, 8)
        s = ""
        for i in range(k):
            if i or rnd.random() < 0.3:
                s += rnd.choice(SEPS)
            s += rnd.choice(FRAGS)
        if rnd.random() < 0.2:
            s += rnd.choice(SEPS)
        corpus.append(s)
    seen, out = set(), []
    for s in corpus:
        if s not in seen:
            seen.add(s)
            out.append(s)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=True, indent=0)
        f.write("\n")
    print("%d strings -> %s" % (len(out), path))


if __name__ == "__main__":
    main()
