/*
 * token.c — from what a user types to a query vector (spec/queries.md §1): token
 * arguments ("#123", raw "ĠParis", readable " Paris", or text split by the model's own
 * tokenizer), feature specs ("L:F:kind") and raw f32 vector files.
 *
 * Lookups go through the validated vocab.bin view (format/vocab.h) straight from the map.
 * tokenizer.json is parsed only when an argument is not one token (to show its pieces in
 * the error) or to split text under VX_TOKEN_TEXT — once per open vindex, then kept.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vx_query.h"
#include "vxindex.h"

void vx_query_free(vx_query *q) {
    if (!q) return;
    free(q->vec);
    free(q->pieces);
    free(q);
}

static vx_query *query_new(uint32_t H) {
    vx_query *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    if (!(q->vec = calloc(H ? H : 1, sizeof *q->vec))) { free(q); return NULL; }
    q->dim = H;
    q->token_id = -1;
    return q;
}

/* "#123" → 1 and *id; anything else → 0. */
static int parse_id(uint64_t *id, const char *s) {
    if (s[0] != '#' || !s[1]) return 0;
    uint64_t v = 0;
    for (const char *p = s + 1; *p; p++) {
        if (*p < '0' || *p > '9') return 0;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > UINT32_MAX) v = UINT32_MAX; /* saturate: out of range anyway */
    }
    *id = v;
    return 1;
}

/* Parse the vindex's tokenizer.json (mapped, never read whole). */
static int load_tokenizer(vx_tokenizer **t, const vx_index *vx, vx_err *err) {
    char *p = vx_path(vx->dir, "tokenizer.json");
    if (!p) return vx_fail(err, VX_ENOMEM, "out of memory");
    vx_map m = { 0 };
    int rc = vx_map_file(&m, p, err);
    if (rc == VX_OK) rc = vx_tokenizer_parse(t, m.data, m.size, p, err);
    vx_unmap(&m);
    free(p);
    return rc;
}

/* The tokenizer of `vx`, parsed once per open vindex (vx_cache). Borrowed. */
static int tokenizer_of(const vx_tokenizer **t, const vx_index *vx, vx_err *err) {
    vx_cache *c = vx->cache;
    pthread_mutex_lock(&c->mu);
    if (!c->loaded) {
        memset(&c->err, 0, sizeof c->err);
        c->rc = load_tokenizer(&c->tok, vx, &c->err);
        c->loaded = c->rc != VX_ENOMEM; /* out of memory may pass; anything else is the file's */
    }
    int rc = c->rc;
    *t = c->tok;
    char msg[sizeof c->err.msg];
    if (rc) snprintf(msg, sizeof msg, "%s", c->err.msg);
    pthread_mutex_unlock(&c->mu);
    return rc ? vx_fail(err, rc, "%s", msg) : VX_OK;
}

/* Split `text` with the model's tokenizer. */
static int split(uint32_t **ids, size_t *n, const vx_index *vx, const char *text, vx_err *err) {
    const vx_tokenizer *t = NULL;
    int rc = tokenizer_of(&t, vx, err);
    if (rc == VX_OK) rc = vx_tokenize(ids, n, t, text, strlen(text), err);
    if (rc == VX_OK) {
        for (size_t i = 0; i < *n; i++)
            if ((*ids)[i] >= vx->vocab.n) {
                rc = vx_fail(err, VX_ECORRUPT, "%s/tokenizer.json: token id %u is beyond the vocabulary (%u rows)", vx->dir,
                             (*ids)[i], vx->vocab.n);
                free(*ids);
                *ids = NULL;
                break;
            }
    }
    return rc;
}

/* Append "'raw' (#id)" for each piece to buf, stopping before it overflows. */
static void list_pieces(char *buf, size_t cap, const vx_index *vx, const uint32_t *ids, size_t n) {
    size_t len = strlen(buf);
    for (size_t i = 0; i < n && len + 1 < cap; i++) {
        const char *raw, *text;
        size_t rl, tl;
        vx_vocab_get(&vx->vocab, ids[i], &raw, &rl, &text, &tl);
        int w = snprintf(buf + len, cap - len, "%s'%.*s' (#%u)", i ? " + " : "", (int)(rl > 64 ? 64 : rl), raw, ids[i]);
        if (w < 0 || (size_t)w >= cap - len) {
            snprintf(buf + len, cap - len, " ...");
            break;
        }
        len += (size_t)w;
    }
}

int vx_token_resolve(uint32_t *id, const vx_index *vx, const char *arg, vx_err *err) {
    uint64_t n;
    if (!arg || !*arg) return vx_fail(err, VX_EUSAGE, "empty token argument");
    if (parse_id(&n, arg)) {
        if (n >= vx->vocab.n) return vx_fail(err, VX_ENOTFOUND, "token #%llu: out of range (vocab_size %u)", (unsigned long long)n, vx->vocab.n);
        *id = (uint32_t)n;
        return VX_OK;
    }
    size_t len = strlen(arg);
    /* Q-T1: readable text first (" Paris" → "ĠParis", "½" → "Â½"), then the raw form
     * ("ĠParis") — but not a raw token whose own text is a lone byte of a multi-byte
     * character: "½" typed means the character, not the byte-level token for byte 0xBD. */
    size_t rl;
    char *raw = vx_vocab_to_raw(vx->vocab.style, arg, len, &rl);
    if (!raw) return vx_fail(err, VX_ENOMEM, "out of memory");
    int64_t f = vx_vocab_find(&vx->vocab, raw, rl);
    free(raw);
    if (f == -1 && (f = vx_vocab_find(&vx->vocab, arg, len)) >= 0) {
        int whole = vx_tok_raw_is_text(vx->vocab.style, arg, len);
        if (whole < 0) return vx_fail(err, VX_ENOMEM, "out of memory");
        if (!whole) f = -1;
    }
    if (f == VX_VOCAB_CORRUPT)
        return vx_fail(err, VX_ECORRUPT, "%s/vocab.bin: looking up '%.200s' met a bucket or entry that breaks V10 or V12",
                       vx->dir, arg);
    if (f >= 0) {
        *id = (uint32_t)f;
        return VX_OK;
    }
    /* Not one token: say what the model's tokenizer makes of it. */
    uint32_t *ids = NULL;
    size_t np = 0;
    vx_err terr = { 0 };
    int rc = split(&ids, &np, vx, arg, &terr);
    if (rc == VX_ENOMEM) return vx_fail(err, rc, "%s", terr.msg);
    char msg[sizeof err->msg];
    if (rc != VX_OK || np == 0)
        snprintf(msg, sizeof msg, "'%.200s' is not a token of the vocabulary, and the tokenizer cannot split it (%.500s)", arg,
                 rc ? terr.msg : "no pieces");
    else if (np == 1) {
        snprintf(msg, sizeof msg, "'%.200s' is not a token of the vocabulary; the tokenizer reads it as the one token ", arg);
        list_pieces(msg, sizeof msg - 64, vx, ids, np);
        strncat(msg, "; query that, or pass --text", sizeof msg - strlen(msg) - 1);
    } else {
        snprintf(msg, sizeof msg, "'%.200s' is not one token of the vocabulary; the tokenizer splits it into %zu pieces: ", arg, np);
        list_pieces(msg, sizeof msg - 64, vx, ids, np);
        strncat(msg, "; pass --text to use the mean of their embeddings", sizeof msg - strlen(msg) - 1);
    }
    free(ids);
    return vx_fail(err, VX_ENOTFOUND, "%s", msg);
}

/* v = the embedding row of token `id`, f32 (exact). A one-shot process reads the row
 * instead of touching the map: where the page cache holds embeddings.bin in 2 MiB folios,
 * one touch maps a whole 2 MiB into its resident set, and a fault costs more than a read. */
static int embedding_row(float *v, const vx_index *vx, uint32_t id, vx_err *err) {
    size_t H = vx->meta.hidden_size, bytes = H * sizeof(uint16_t);
    const uint16_t *row = vx->emb + (size_t)id * H;   /* [V][H] f16 */
    uint16_t *buf = NULL;
    int fd = vx->map[VXF_EMB].fd;
    if (vx_once(vx) && fd >= 0 && (buf = malloc(bytes))) {
        uint64_t off = (uint64_t)id * bytes;
        size_t got = vx_pread_full(fd, buf, bytes, off);
        if (got < bytes) {
            free(buf);
            return vx_fail(err, VX_EIO, "%s/embeddings.bin: read failed or ended early at byte %llu (changed under an open vindex?)",
                           vx->dir, (unsigned long long)(off + got));
        }
        row = buf;
    }
    for (size_t i = 0; i < H; i++) v[i] = vx_f16_to_f32(row[i]);
    free(buf);
    return VX_OK;
}

int vx_query_token(vx_query **out, const vx_index *vx, const char *arg, unsigned flags, vx_err *err) {
    *out = NULL;
    size_t H = vx->meta.hidden_size;
    vx_query *q = query_new((uint32_t)H);
    if (!q) return vx_fail(err, VX_ENOMEM, "out of memory");
    int rc;
    if (!(flags & VX_TOKEN_TEXT)) {
        uint32_t id;
        if ((rc = vx_token_resolve(&id, vx, arg, err)) != VX_OK) { vx_query_free(q); return rc; }
        if ((rc = embedding_row(q->vec, vx, id, err)) != VX_OK) { vx_query_free(q); return rc; }
        q->token_id = id;
    } else {
        if (!arg || !*arg) { vx_query_free(q); return vx_fail(err, VX_EUSAGE, "empty text"); }
        if ((rc = split(&q->pieces, &q->n_pieces, vx, arg, err)) != VX_OK) { vx_query_free(q); return rc; }
        if (!q->n_pieces) { vx_query_free(q); return vx_fail(err, VX_ENOTFOUND, "'%.200s': the tokenizer gives no pieces", arg); }
        /* Mean of the pieces' embeddings, summed in double. */
        double *acc = calloc(H, sizeof *acc);
        float *row = malloc(H * sizeof *row);
        if (!acc || !row) { free(acc); free(row); vx_query_free(q); return vx_fail(err, VX_ENOMEM, "out of memory"); }
        for (size_t p = 0; p < q->n_pieces; p++) {
            if ((rc = embedding_row(row, vx, q->pieces[p], err)) != VX_OK) break;
            for (size_t i = 0; i < H; i++) acc[i] += row[i];
        }
        for (size_t i = 0; i < H; i++) q->vec[i] = (float)(acc[i] / (double)q->n_pieces);
        free(acc);
        free(row);
        if (rc != VX_OK) { vx_query_free(q); return rc; }
    }
    *out = q;
    return VX_OK;
}

int vx_query_feature(vx_query **out, const vx_index *vx, uint32_t layer, uint32_t feat, vx_kind kind, vx_err *err) {
    *out = NULL;
    const vx_meta *m = &vx->meta;
    if (layer >= m->num_layers || feat >= m->num_feats || (kind != VX_GATE && kind != VX_DOWN))
        return vx_fail(err, VX_ENOTFOUND, "feature %u:%u: out of range (%u layers, %u features)", layer, feat, m->num_layers,
                       m->num_feats);
    size_t H = m->hidden_size;
    vx_query *q = query_new((uint32_t)H);
    if (!q) return vx_fail(err, VX_ENOMEM, "out of memory");
    const uint16_t *row = (kind == VX_DOWN ? vx->down : vx->gate) + ((size_t)layer * m->num_feats + feat) * H; /* [L][F][H] */
    for (size_t i = 0; i < H; i++) q->vec[i] = vx_f16_to_f32(row[i]);
    q->is_feature = 1;
    q->layer = layer;
    q->feature = feat;
    q->kind = kind;
    *out = q;
    return VX_OK;
}

int vx_query_vector(vx_query **out, const vx_index *vx, const float *v, size_t n, vx_err *err) {
    *out = NULL;
    size_t H = vx->meta.hidden_size;
    if (n != H) return vx_fail(err, VX_EUSAGE, "vector of %zu values; this vindex has hidden size %zu", n, H);
    for (size_t i = 0; i < n; i++)
        if (!(v[i] == v[i]) || v[i] > 3.4e38f || v[i] < -3.4e38f)
            return vx_fail(err, VX_EUSAGE, "vector: value %zu is not finite", i);
    vx_query *q = query_new((uint32_t)H);
    if (!q) return vx_fail(err, VX_ENOMEM, "out of memory");
    memcpy(q->vec, v, H * sizeof *v);
    *out = q;
    return VX_OK;
}

int vx_query_vector_file(vx_query **out, const vx_index *vx, const char *path, vx_err *err) {
    *out = NULL;
    size_t H = vx->meta.hidden_size;
    FILE *f = fopen(path, "rb");
    if (!f) return vx_fail(err, errno == ENOENT ? VX_ENOTFOUND : VX_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) { fclose(f); return vx_fail(err, VX_EIO, "%s: %s", path, strerror(errno)); }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != 4 * (uint64_t)H) {
        fclose(f);
        return vx_fail(err, VX_EUSAGE, "%s: %lld bytes; expected %zu little-endian f32 values (%zu bytes)", path,
                       (long long)st.st_size, H, 4 * H);
    }
    uint8_t *buf = malloc(4 * H);
    float *v = malloc(H * sizeof *v);
    int rc = VX_OK;
    if (!buf || !v) rc = vx_fail(err, VX_ENOMEM, "out of memory");
    else if (fread(buf, 1, 4 * H, f) != 4 * H) rc = vx_fail(err, VX_EIO, "%s: short read", path);
    fclose(f);
    if (rc == VX_OK) {
        for (size_t i = 0; i < H; i++) {
            union { uint32_t u; float f; } c = { vx_le32(buf + 4 * i) };
            v[i] = c.f;
        }
        rc = vx_query_vector(out, vx, v, H, err);
        if (rc) { char m[sizeof err->msg]; snprintf(m, sizeof m, "%s", err ? err->msg : ""); if (err) vx_fail(err, rc, "%s: %s", path, m); }
    }
    free(buf);
    free(v);
    return rc;
}

int vx_feature_parse(uint32_t *layer, uint32_t *feat, vx_kind *kind, const vx_index *vx, const char *spec, vx_err *err) {
    unsigned long v[2];
    const char *p = spec;
    for (int i = 0; i < 2; i++) {
        if (*p < '0' || *p > '9') return vx_fail(err, VX_EUSAGE, "feature '%.100s': expected LAYER:FEATURE[:gate|down]", spec);
        char *end;
        errno = 0;
        v[i] = strtoul(p, &end, 10);
        if (errno || v[i] > UINT32_MAX) return vx_fail(err, VX_EUSAGE, "feature '%.100s': number too large", spec);
        p = end;
        if (i == 0 && *p++ != ':') return vx_fail(err, VX_EUSAGE, "feature '%.100s': expected LAYER:FEATURE[:gate|down]", spec);
    }
    *kind = VX_GATE;
    if (*p) {
        if (!strcmp(p, ":gate")) *kind = VX_GATE;
        else if (!strcmp(p, ":down")) *kind = VX_DOWN;
        else return vx_fail(err, VX_EUSAGE, "feature '%.100s': kind must be gate or down", spec);
    }
    const vx_meta *m = &vx->meta;
    if (v[0] >= m->num_layers || v[1] >= m->num_feats)
        return vx_fail(err, VX_ENOTFOUND, "feature %lu:%lu: out of range (%u layers, %u features)", v[0], v[1], m->num_layers,
                       m->num_feats);
    *layer = (uint32_t)v[0];
    *feat = (uint32_t)v[1];
    return VX_OK;
}
