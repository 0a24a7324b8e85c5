/*
 * vocab.h — the token table: reading tokenizer.json, writing vocab.bin, reading a
 * mapped vocab.bin, and turning user text into token ids.
 *
 * vocab.bin (spec/vocab-bin.md) holds, for every id < vocab_size, the raw
 * vocabulary string and its readable UTF-8 form, plus an open-addressing hash table
 * keyed by XXH3-64 of the raw string, so a query maps a string to an id straight from
 * the map without parsing tokenizer.json.
 *
 * Styles: BYTELEVEL (GPT-2 byte map: Ġ→space etc.), METASPACE (SentencePiece: ▁→space,
 * <0xNN> byte tokens), PLAIN (no transformation). Detected from tokenizer.json
 * (pre_tokenizer/decoder/normalizer types); model types BPE, Unigram (vocab as a list of
 * [piece, score]) and WordPiece are read; added_tokens are included.
 */
#ifndef VX_FORMAT_VOCAB_H
#define VX_FORMAT_VOCAB_H

#include "common.h"

typedef enum { VX_STYLE_PLAIN = 0, VX_STYLE_BYTELEVEL = 1, VX_STYLE_METASPACE = 2 } vx_tok_style;

/* A parsed tokenizer.json. */
typedef struct vx_tokenizer vx_tokenizer;

/* Parse tokenizer.json bytes (not NUL-terminated). Rejects ids that are negative,
 * duplicated or absurd (> 2^31), non-string tokens, truncated JSON. Errors: VX_ECORRUPT,
 * VX_EUNSUPPORTED (unknown model type), VX_ENOMEM. `fname` for messages. */
int vx_tokenizer_parse(vx_tokenizer **out, const uint8_t *buf, size_t len, const char *fname, vx_err *err);
void vx_tokenizer_free(vx_tokenizer *t);
vx_tok_style vx_tokenizer_style(const vx_tokenizer *t);
uint32_t vx_tokenizer_size(const vx_tokenizer *t); /* 1 + largest id */
/* Raw string of token `id` (NUL-terminated, *len bytes; may be NULL), borrowed from `t`
 * and valid until vx_tokenizer_free; NULL (and *len = 0) when no token has that id. */
const char *vx_tokenizer_token(const vx_tokenizer *t, uint32_t id, size_t *len);

/* Serialise the vocab.bin image for ids 0..vocab_rows-1 (ids without a token get empty
 * strings) into a malloc'd buffer. */
int vx_vocab_build(uint8_t **buf, size_t *len, const vx_tokenizer *t, uint32_t vocab_rows, vx_err *err);

/* A validated view of a vocab.bin image; points into the caller's buffer. */
typedef struct vx_vocab {
    const uint8_t *base; size_t size;
    uint32_t n;              /* entries = vocab_size */
    vx_tok_style style;
    uint32_t nbuckets;       /* power of two */
    const uint8_t *entries;  /* [n] x {u32 raw_off, u32 raw_len, u32 text_off, u32 text_len} */
    const uint8_t *buckets;  /* [nbuckets] x u32 id, 0xFFFFFFFF = empty */
    const uint8_t *strings;  uint64_t strings_len;
} vx_vocab;

/* Validate everything (header, every entry's string range, every bucket id < n) so later
 * lookups need no checks. Errors: VX_ECORRUPT with the byte offset (spec/vocab-bin.md
 * V1..V12); VX_EUNSUPPORTED for a version other than 1. */
int vx_vocab_parse(vx_vocab *v, const uint8_t *buf, size_t len, const char *fname, vx_err *err);
/* Token id of a raw vocabulary string, or -1. */
int64_t vx_vocab_find(const vx_vocab *v, const char *raw, size_t len);
void vx_vocab_get(const vx_vocab *v, uint32_t id, const char **raw, size_t *raw_len,
                  const char **text, size_t *text_len);
/* Convert readable text to the vocabulary's raw form (" Paris" → "ĠParis" or "▁Paris").
 * Returns a malloc'd NUL-terminated string, NULL on ENOMEM. */
char *vx_vocab_to_raw(vx_tok_style style, const char *text, size_t len, size_t *out_len);

/* Split `text` into ids with the tokenizer's own rules (byte-level BPE merges with the
 * GPT-2 pre-tokenizer regex approximated per spec; Unigram Viterbi for SentencePiece
 * style). *ids is malloc'd. Errors: VX_EUNSUPPORTED, VX_ENOTFOUND (unencodable). */
int vx_tokenize(uint32_t **ids, size_t *n, const vx_tokenizer *t, const char *text, size_t len, vx_err *err);

#endif
