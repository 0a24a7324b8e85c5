/*
 * tok_internal.h — the inside of a vx_tokenizer, shared by the token-text module's files
 * (tokenizer.c builds it, tok_encode.c and tok_model.c read it). Not seen outside format/.
 */
#ifndef VX_FORMAT_TOK_INTERNAL_H
#define VX_FORMAT_TOK_INTERNAL_H

#include "tokenizer.h"
#include "tokregex.h"
#include "unicode.h"

#define TOK_NO_ID 0xFFFFFFFFu

enum { MODEL_BPE, MODEL_UNIGRAM, MODEL_WORDPIECE, MODEL_WORDLEVEL };

/* SplitDelimiterBehavior */
enum { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS };

enum { NZ_NFC, NZ_NFD, NZ_NFKC, NZ_NFKD, NZ_LOWER, NZ_STRIP, NZ_STRIP_ACCENTS, NZ_REPLACE, NZ_PREPEND, NZ_BERT,
       NZ_NMT, NZ_BYTELEVEL };

typedef struct tk_norm {
    int kind;
    int left, right;            /* STRIP */
    vx_regex *re;               /* REPLACE */
    char *str; size_t str_len;  /* REPLACE content, PREPEND text */
    int clean, chinese, strip_accents, lower; /* BERT */
} tk_norm;

enum { PT_BYTELEVEL, PT_SPLIT, PT_METASPACE, PT_DIGITS, PT_PUNCT, PT_WHITESPACE, PT_WSSPLIT, PT_DELIM, PT_FIXED };
enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };

typedef struct tk_pretok {
    int kind;
    int prefix_space, use_regex;   /* BYTELEVEL */
    vx_regex *re;                  /* SPLIT (pattern), BYTELEVEL (GPT-2 regex), WHITESPACE */
    int behavior, invert;          /* SPLIT, PUNCT, DIGITS */
    uint32_t ch;                   /* METASPACE replacement, DELIM delimiter */
    int prepend, split;            /* METASPACE */
    size_t fixed;                  /* FIXED length in characters */
} tk_pretok;

/* A byte trie: leftmost-longest matching of added tokens, common-prefix search of the
 * Unigram pieces. Edges live in one open-addressing table keyed by (node, byte). */
typedef struct tk_trie {
    uint32_t *val;                 /* [nodes] value or TOK_NO_ID */
    uint32_t nodes, cap;
    uint64_t *ekey; uint32_t *echild; /* [emask+1] edge table, key UINT64_MAX = empty */
    uint32_t emask, nedges;
    uint32_t depth;                /* longest key */
} tk_trie;

typedef struct tk_added {
    uint32_t id;                   /* the id it encodes to */
    uint8_t single_word, lstrip, rstrip, normalized, special;
} tk_added;

typedef struct pair_ent {
    uint64_t key;     /* left id << 32 | right id; UINT64_MAX = empty */
    uint32_t rank;    /* position in model.merges */
    uint32_t merged;  /* id of left+right */
} pair_ent;

struct vx_tokenizer {
    vx_tok_style style;
    int model;
    uint32_t size;        /* 1 + largest id */
    size_t count;         /* ids that hold a token */
    char **tok;           /* [size] raw strings, NUL-terminated; NULL where no token */
    uint32_t *tok_len;    /* [size] bytes */
    /* model.vocab: string → id (the last of duplicates, as the reference's map) */
    uint32_t *mslot; uint32_t mmask;
    uint8_t *in_model;    /* [size] 1 when the id is in model.vocab */
    double *score;        /* [size] Unigram scores; NULL unless Unigram */
    pair_ent *pairs; uint32_t pmask; /* BPE merges */
    int64_t unk_id;       /* -1: none */
    char *unk_token;      /* BPE/WordPiece/WordLevel unk_token as written (may name no id) */
    int byte_fallback, ignore_merges, fuse_unk;
    char *sub_prefix, *eow_suffix; /* BPE continuing_subword_prefix / end_of_word_suffix; WordPiece prefix */
    uint32_t wp_max_chars;
    double min_score;     /* Unigram */
    tk_trie pieces;       /* Unigram: every model piece */
    uint32_t model_size;  /* distinct strings in model.vocab (the reference's get_vocab_size) */
    tk_added *added; size_t n_added;
    tk_trie added_raw, added_norm; /* values index `added` */
    tk_norm *norm; size_t n_norm;
    tk_pretok *pre; size_t n_pre;
    int unsupported_rc;   /* 0, or the code vx_tokenize fails with */
    char unsupported[200];
};

/* Model vocabulary lookup: id of raw string s[0..n), or TOK_NO_ID. */
uint32_t tk_model_id(const vx_tokenizer *t, const char *s, size_t n);

/* Tries. */
int tk_trie_init(tk_trie *tr);
int tk_trie_add(tk_trie *tr, const char *s, size_t n, uint32_t value);
void tk_trie_free(tk_trie *tr);
/* Child of node by byte, or TOK_NO_ID. Node 0 is the root. */
uint32_t tk_trie_child(const tk_trie *tr, uint32_t node, uint8_t b);

/* A growable id list. */
typedef struct tk_ids { uint32_t *v; size_t n, cap; } tk_ids;
int tk_push(tk_ids *o, uint32_t id);

/* Encode one pre-tokenized piece with the model, appending to o. */
int tk_model_encode(const vx_tokenizer *t, tk_ids *o, const char *s, size_t n, vx_err *err);

/* GPT-2's byte → character map (bytes_char in byte_level.rs). */
uint32_t tk_byte_cp(unsigned b);

#endif
