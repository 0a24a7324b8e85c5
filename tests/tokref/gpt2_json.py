#!/usr/bin/python3
"""gpt2_json.py ENCODER_JSON VOCAB_BPE OUT — GPT-2's tokenizer.json from OpenAI's two files,
as Hugging Face's converter (GPT2TokenizerFast) writes it: byte-level BPE, the GPT-2
pre-tokenizer regex (ByteLevel use_regex), no normalizer, <|endoftext|> as a special token."""
import json
import os
import sys

enc, bpe, out = sys.argv[1:4]
vocab = json.load(open(enc, encoding="utf-8"))
merges = [l for l in open(bpe, encoding="utf-8").read().split("\n")[1:] if l]  # line 0: #version
tok = {
    "version": "1.0",
    "truncation": None,
    "padding": None,
    "added_tokens": [{"id": 50256, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                      "rstrip": False, "normalized": True, "special": True}],
    "normalizer": None,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
              "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
              "merges": merges},
}
with open(out + ".tmp", "w", encoding="utf-8") as f:
    json.dump(tok, f, ensure_ascii=False)
os.replace(out + ".tmp", out)
