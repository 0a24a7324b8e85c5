// encode.js TOKENIZER_JSON [--offsets] — the reference side of tests/t_tokenize.py:
// Hugging Face's tokenizers library encodes each stdin line (hex-encoded UTF-8) without
// special tokens and prints the ids space-separated, or "ERR <message>", one line per
// input line (the protocol of `build/tests/test_vocab --tokenize`). With --offsets it
// prints each token's character offsets "start-end" instead (the regex test reads the
// pieces of a Split pre-tokenizer that way).
"use strict";
const path = require("path");
const fs = require("fs");
const { Tokenizer } = require(path.join(process.env.TOKREF_DIR || path.join(__dirname, "../../.deps/tokref"),
                                        "node_modules/tokenizers"));

async function main() {
  const tok = Tokenizer.fromFile(process.argv[2]);
  const lines = fs.readFileSync(0, "utf8").split("\n");
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  const out = [];
  for (const hex of lines) {
    try {
      const text = Buffer.from(hex.trim(), "hex").toString("utf8");
      const enc = await tok.encode(text, null, { addSpecialTokens: false });
      if (process.argv[3] === "--offsets") out.push(enc.getOffsets().map((o) => o[0] + "-" + o[1]).join(" "));
      else out.push(enc.getIds().join(" "));
    } catch (e) {
      out.push("ERR " + String(e.message || e).replace(/\s+/g, " "));
    }
  }
  process.stdout.write(out.join("\n") + "\n");
}
main().catch((e) => { console.error(e); process.exit(2); });
