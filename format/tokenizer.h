/*
 * tokenizer.h — the token-text module: everything that turns between text and token ids
 * or token strings. It reads tokenizer.json (the Hugging Face `tokenizers`
 * serialisation), encodes text into ids exactly as that library does, and owns the two
 * forms of a vocabulary string (raw, as stored in tokenizer.json, and readable UTF-8) and
 * the UTF-8 rules behind them (unicode.h). vocab.bin (vocab.h) is built from it and
 * depends on it, never the reverse.
 *
 * Files: tokenizer.c (parsing), tok_encode.c (added tokens, normalizers,
 * pre-tokenizers), tok_model.c (BPE, Unigram, WordPiece, WordLevel), toktext.c (raw and
 * readable forms), tokregex.c (the patterns), unicode.c (character properties).
 * The behaviour, and every construct that is refused, is specified in
 * spec/tokenizer.md.
 */
#ifndef VX_FORMAT_TOKENIZER_H
#define VX_FORMAT_TOKENIZER_H

#include "common.h"

/* How a vocabulary's raw strings spell text (spec/vocab-bin.md V16, V17). */
typedef enum { VX_STYLE_PLAIN = 0, VX_STYLE_BYTELEVEL = 1, VX_STYLE_METASPACE = 2 } vx_tok_style;

/* A parsed tokenizer.json: immutable after parsing, so one may be shared by threads. */
typedef struct vx_tokenizer vx_tokenizer;

/* Parse tokenizer.json bytes (not NUL-terminated). Rejects ids that are negative,
 * duplicated or absurd (> 2^31), non-string tokens, truncated JSON (VX_ECORRUPT), an
 * unknown model type (VX_EUNSUPPORTED); VX_ENOMEM. A normalizer, pre-tokenizer or regex
 * the encoder cannot apply does not fail the parse — the table of tokens is still good for
 * vocab.bin — but is recorded: vx_tokenizer_unsupported names it and vx_tokenize fails
 * with it. `fname` for messages. The result is owned by the caller (vx_tokenizer_free). */
int vx_tokenizer_parse(vx_tokenizer **out, const uint8_t *buf, size_t len, const char *fname, vx_err *err);
/* Why vx_tokenize will refuse every text (a component named with its place in the
 * file), or NULL when it encodes. Borrowed from `t`. */
const char *vx_tokenizer_unsupported(const vx_tokenizer *t);
void vx_tokenizer_free(vx_tokenizer *t); /* accepts NULL */
vx_tok_style vx_tokenizer_style(const vx_tokenizer *t);
uint32_t vx_tokenizer_size(const vx_tokenizer *t); /* 1 + largest id */
/* Raw string of token `id` (NUL-terminated, *len bytes; may be NULL), borrowed from `t`
 * and valid until vx_tokenizer_free; NULL (and *len = 0) when no token has that id. */
const char *vx_tokenizer_token(const vx_tokenizer *t, uint32_t id, size_t *len);

/* Encode `text` (UTF-8, len bytes) into ids as the reference does with
 * add_special_tokens=false: added tokens split out, normalizers, pre-tokenizers, model.
 * *ids is malloc'd (owned by the caller, non-NULL on success even when *n is 0).
 * Errors: VX_EUSAGE (text is not valid UTF-8), VX_EUNSUPPORTED (the tokenizer holds a
 * component that cannot be applied, named), VX_ENOTFOUND (the model cannot encode a piece
 * and has no unk token), VX_ENOMEM. */
int vx_tokenize(uint32_t **ids, size_t *n, const vx_tokenizer *t, const char *text, size_t len, vx_err *err);
/* As vx_tokenize; *steps receives the regex states expanded (for the work-bound test). */
int vx_tokenize_steps(uint32_t **ids, size_t *n, const vx_tokenizer *t, const char *text, size_t len, uint64_t *steps,
                      vx_err *err);

/* ------------------------------------------------------ raw and readable forms */

/* V17: readable text → raw vocabulary form (" Paris" → "ĠParis" or "▁Paris"). Returns a
 * malloc'd NUL-terminated string, NULL on ENOMEM. */
char *vx_vocab_to_raw(vx_tok_style style, const char *text, size_t len, size_t *out_len);
/* V16: the readable form of raw token bytes into out (room for 4n + 1 bytes), using tmp
 * (room for n bytes) as scratch. Returns its length; the result is valid UTF-8. */
size_t vx_tok_readable(char *out, unsigned char *tmp, vx_tok_style style, const char *raw, size_t n);
/* 1 if raw token bytes raw[0..n) spell whole characters (their readable form needs no
 * \xNN escape), 0 if they hold part of a multi-byte character (the byte-level "½" is
 * byte 0xBD), -1 on ENOMEM. */
int vx_tok_raw_is_text(vx_tok_style style, const char *raw, size_t n);
/* 1 if s[0..n) is well-formed UTF-8 (RFC 3629). */
int vx_utf8_valid(const char *s, size_t n);

#endif
