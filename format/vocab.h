/*
 * vocab.h — vocab.bin: writing it from a parsed tokenizer (tokenizer.h, which owns the
 * token strings and their forms; this file depends on it, never the reverse), and
 * reading a mapped vocab.bin.
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

#include "tokenizer.h"

/* Serialise the vocab.bin image for ids 0..vocab_rows-1 (ids without a token get empty
 * strings) into a malloc'd buffer. */
int vx_vocab_build(uint8_t **buf, size_t *len, const vx_tokenizer *t, uint32_t vocab_rows, vx_err *err);

/* A view of a vocab.bin image whose header vx_vocab_open checked; points into the caller's buffer. */
typedef struct vx_vocab {
    const uint8_t *base; size_t size;
    uint32_t n;              /* entries = vocab_size */
    vx_tok_style style;
    uint32_t nbuckets;       /* power of two */
    const uint8_t *entries;  /* [n] x {u32 raw_off, u32 raw_len, u32 text_off, u32 text_len} */
    const uint8_t *buckets;  /* [nbuckets] x u32 id, 0xFFFFFFFF = empty */
    const uint8_t *strings;  uint64_t strings_len;
} vx_vocab;

/* Validate the header and the section layout (spec/vocab-bin.md V1..V9): what opening a
 * vindex checks, in constant time. The lookups below check each bucket and entry they
 * read (V10..V12), so they never leave buf. Errors: VX_ECORRUPT with the byte offset;
 * VX_EUNSUPPORTED for a version other than 1. */
int vx_vocab_open(vx_vocab *v, const uint8_t *buf, size_t len, const char *fname, vx_err *err);
/* vx_vocab_open, then every entry's strings and every bucket (V10..V12), naming the first
 * that breaks a rule: for verify, archives, and passes over the whole vocabulary. */
int vx_vocab_parse(vx_vocab *v, const uint8_t *buf, size_t len, const char *fname, vx_err *err);
/* Token id of a raw vocabulary string, -1 when absent, or VX_VOCAB_CORRUPT when a bucket
 * or entry the lookup reached breaks V10 or V12. */
#define VX_VOCAB_CORRUPT (-2)
int64_t vx_vocab_find(const vx_vocab *v, const char *raw, size_t len);
/* The raw and readable strings of id: 0, or -1 when its entry breaks V10 or V11 (the
 * strings are then empty, as they are for an id >= n). */
int vx_vocab_get(const vx_vocab *v, uint32_t id, const char **raw, size_t *raw_len,
                 const char **text, size_t *text_len);
#endif
