/*
 * open.c — vx_open: index.json first (the root of truth), then every file's size checked
 * against it before it is mapped, then the headers of down_meta.bin and vocab.bin. After
 * this, queries index the maps without further checks, except vocab.bin's entries and
 * buckets, which each lookup checks as it reads them (spec R-O1..R-O4, vocab-bin.md).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vxindex.h"

const char *const vx_slot_names[VXF_COUNT] = { "gate_vectors.bin", "down_features.bin", "embeddings.bin",
                                               "down_meta.bin",    "norms.bin",         "vocab.bin",
                                               "spectra.bin",      "neurons.bin",       "moments.bin",
                                               "unembed.bin" };

void vx_close(vx_index *vx) {
    if (!vx) return;
    for (int i = 0; i < VXF_COUNT; i++) vx_unmap(&vx->map[i]);
    vx_meta_free(&vx->meta);
    vx_unmap(&vx->index_map);
    if (vx->cache) {
        vx_tokenizer_free(vx->cache->tok);
        free(vx->cache->index_json);
        pthread_mutex_destroy(&vx->cache->mu);
        free(vx->cache);
    }
    free(vx->manifest);
    free(vx->dir);
    free(vx);
}

int vx_open(vx_index **out, const char *dir, vx_err *err) {
    int dfd;
    *out = NULL;
    int rc = vx_open_dir(&dfd, dir, err);
    if (rc) return rc;
    rc = vx_open_at(out, dfd, dir, err);
    close(dfd);
    return rc;
}

int vx_open_at(vx_index **out, int dfd, const char *dir, vx_err *err) {
    *out = NULL;
    vx_index *vx = calloc(1, sizeof *vx);
    if (!vx || !(vx->dir = strdup(dir)) || !(vx->cache = calloc(1, sizeof *vx->cache))) {
        if (vx) free(vx->dir);
        free(vx);
        return vx_fail(err, VX_ENOMEM, "%s: out of memory", dir);
    }
    pthread_mutex_init(&vx->cache->mu, NULL);
    for (int i = 0; i < VXF_COUNT; i++) vx->map[i].fd = -1;
    vx->index_map.fd = -1;
    /* R-O5: every file is opened relative to one directory fd. index.json is parsed from a
     * map of it, as the other files are read: copying its 128 KB (Qwen3-8B shape) into
     * fresh memory cost a fresh process ~0.5 ms of first-touch faults (doc/benchmarks.md,
     * "Query processes"); vx_index_json copies it when asked. */
    char *p = vx_path(dir, "index.json");
    int rc = p ? vx_map_fileat(&vx->index_map, dfd, "index.json", p, err) : vx_fail(err, VX_ENOMEM, "out of memory");
    if (rc == VX_OK && vx->index_map.size > VX_MAX_INDEX_JSON)
        rc = vx_fail(err, VX_ECORRUPT, "%s: %zu bytes, larger than the %u-byte limit for this file", p, vx->index_map.size,
                     VX_MAX_INDEX_JSON);
    if (rc == VX_OK) {
        char where[1100];
        snprintf(where, sizeof where, "%s", p);
        rc = vx_meta_parse(&vx->meta, vx->index_map.data, vx->index_map.size, where, err);
    }
    free(p);
    if (rc) { vx_close(vx); return rc; }
    const vx_meta *m = &vx->meta;

    /* R-O1: every file exists with exactly the size index.json records — checked on the
     * mapped size itself, so no page past the end can ever be touched. */
    for (int i = 0; i < VXF_COUNT; i++) {
        const vx_file_meta *fm = vx_meta_file(m, vx_slot_names[i]);
        if (!fm) continue; /* an optional file index.json does not list (vx_meta_parse requires the others) */
        char *fp = vx_path(dir, vx_slot_names[i]);
        if (!fp) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); break; }
        rc = vx_map_fileat(&vx->map[i], dfd, vx_slot_names[i], fp, err);
        if (rc == VX_OK && vx->map[i].size != fm->bytes)
            rc = vx_fail(err, VX_ECORRUPT, "%s: %zu bytes, index.json says %llu", fp, vx->map[i].size,
                         (unsigned long long)fm->bytes);
        free(fp);
        if (rc) break;
    }
    if (rc == VX_OK) {
        char *fp = vx_path(dir, "down_meta.bin");
        rc = fp ? vx_dm_header_check(vx->map[VXF_DMETA].data, vx->map[VXF_DMETA].size, m->num_layers, m->num_feats,
                                     m->down_top_k, fp, err)
                : vx_fail(err, VX_ENOMEM, "out of memory");
        free(fp);
    }
    if (rc == VX_OK) {
        char *fp = vx_path(dir, "vocab.bin");
        rc = fp ? vx_vocab_open(&vx->vocab, vx->map[VXF_VOCAB].data, vx->map[VXF_VOCAB].size, fp, err)
                : vx_fail(err, VX_ENOMEM, "out of memory");
        if (rc == VX_OK && vx->vocab.n != m->vocab_size)
            rc = vx_fail(err, VX_ECORRUPT, "%s: %u entries, index.json vocab_size is %u", fp, vx->vocab.n, m->vocab_size);
        free(fp);
    }
    if (rc) { vx_close(vx); return rc; }

    /* Provenance is optional for reading the arrays; its absence is verify's to report. */
    vx_err ignored = { 0 };
    if (vx_read_fileat(&vx->manifest, &vx->manifest_len, dfd, "manifest.json", "manifest.json", 16u << 20, &ignored))
        vx->manifest = NULL;

    /* Queries scan these arrays front to back. */
    madvise((void *)(uintptr_t)vx->map[VXF_GATE].data, vx->map[VXF_GATE].size, MADV_WILLNEED);
    madvise((void *)(uintptr_t)vx->map[VXF_DOWN].data, vx->map[VXF_DOWN].size, MADV_WILLNEED);
    vx->gate = (const uint16_t *)(const void *)vx->map[VXF_GATE].data;
    vx->down = (const uint16_t *)(const void *)vx->map[VXF_DOWN].data;
    vx->emb = (const uint16_t *)(const void *)vx->map[VXF_EMB].data;
    vx->dmeta = vx->map[VXF_DMETA].data + VX_DM_HEADER;
    vx->norms = (const float *)(const void *)vx->map[VXF_NORMS].data;
    /* Version 2 (§9): sizes were checked against index.json above, like every file. */
    if (m->has_battery) {
        vx->spectra = (const float *)(const void *)vx->map[VXF_SPECTRA].data;
        vx->neurons = (const float *)(const void *)vx->map[VXF_NEURONS].data;
        vx->moments = (const float *)(const void *)vx->map[VXF_MOMENTS].data;
    }
    if (m->unembedding == VX_UNEMB_FILE) vx->unemb = (const uint16_t *)(const void *)vx->map[VXF_UNEMBED].data;
    else if (m->unembedding == VX_UNEMB_EMBEDDINGS || (m->unembedding == VX_UNEMB_V1 && m->tied_embeddings))
        vx->unemb = vx->emb;

    vx_info *in = &vx->info;
    in->num_layers = m->num_layers;
    in->num_feats = m->num_feats;
    in->hidden_size = m->hidden_size;
    in->vocab_size = m->vocab_size;
    in->intermediate_size = m->intermediate_size;
    in->top_k = m->down_top_k;
    in->embed_scale = m->embed_scale;
    in->norm_offset = m->norm_offset;
    in->tied_embeddings = m->tied_embeddings;
    in->embed_clamped = m->embed_clamped;
    in->model = m->model;
    in->model_type = m->model_type;
    in->architecture = m->architecture;
    in->dtype = m->source_dtype;
    in->path = vx->dir;
    *out = vx;
    return VX_OK;
}

const vx_info *vx_get_info(const vx_index *vx) { return &vx->info; }

void vx_advise(vx_index *vx, vx_advice advice) { vx->advice = advice; }

const char *vx_manifest(const vx_index *vx, size_t *len) {
    if (len) *len = vx->manifest ? vx->manifest_len : 0;
    return vx->manifest;
}

const char *vx_index_json(const vx_index *vx, size_t *len) {
    vx_cache *c = vx->cache;
    size_t n = vx->index_map.size;
    pthread_mutex_lock(&c->mu);
    if (!c->index_json && (c->index_json = malloc(n + 1))) {
        if (n) memcpy(c->index_json, vx->index_map.data, n);
        c->index_json[n] = 0;
    }
    char *s = c->index_json;
    pthread_mutex_unlock(&c->mu);
    if (len) *len = s ? n : 0;
    return s;
}

int vx_file_map(const void **data, size_t *size, const vx_index *vx, const char *name, vx_err *err) {
    for (int i = 0; i < VXF_COUNT; i++)
        if (name && !strcmp(name, vx_slot_names[i]) && (i < VXF_REQUIRED || vx_meta_file(&vx->meta, name))) {
            *data = vx->map[i].data;
            *size = vx->map[i].size;
            return VX_OK;
        }
    *data = NULL;
    *size = 0;
    return vx_fail(err, VX_ENOTFOUND, "%s: no mapped file '%s' in this vindex", vx->dir, name ? name : "(null)");
}

int vx_revalidate(const vx_index *vx, vx_err *err) {
    for (int i = 0; i < VXF_COUNT; i++)
        if (vx_map_changed(&vx->map[i]))
            return vx_fail(err, VX_ECORRUPT, "%s/%s: changed size under a live map (was %zu bytes); reopen the vindex",
                           vx->dir, vx_slot_names[i], vx->map[i].size);
    return VX_OK;
}
const uint16_t *vx_features(const vx_index *vx, vx_kind kind) { return kind == VX_DOWN ? vx->down : vx->gate; }
const uint16_t *vx_embeddings(const vx_index *vx) { return vx->emb; }

const float *vx_sigma(const vx_index *vx, vx_kind kind, uint32_t layer) {
    if (layer >= vx->meta.num_layers) return NULL;
    return kind == VX_DOWN ? vx->meta.layers[layer].down_sigma : vx->meta.layers[layer].gate_sigma;
}

int vx_feature_proj(const vx_proj **pos, const vx_proj **neg, const vx_index *vx, uint32_t layer, uint32_t feat,
                    vx_kind kind, vx_err *err) {
    const vx_meta *m = &vx->meta;
    if (layer >= m->num_layers || feat >= m->num_feats || (kind != VX_GATE && kind != VX_DOWN))
        return vx_fail(err, VX_ENOTFOUND, "feature %u:%u: out of range (%u layers, %u features)", layer, feat,
                       m->num_layers, m->num_feats);
    uint64_t K = m->down_top_k, r = ((uint64_t)layer * 2 + (uint64_t)kind) * m->num_feats + feat;
    /* The record layout {u32 id, f32 value} is vx_proj's layout on little-endian hosts;
     * records are 8-byte aligned because the header is 32 bytes and records 16K. */
    const vx_proj *rec = (const vx_proj *)(const void *)(vx->dmeta + r * 16 * K);
    *pos = rec;
    *neg = rec + K;
    return VX_OK;
}

int vx_token_str(const char **raw, size_t *raw_len, const char **text, size_t *text_len, const vx_index *vx, uint32_t id,
                 vx_err *err) {
    if (id >= vx->vocab.n) return vx_fail(err, VX_ENOTFOUND, "token #%u: out of range (vocab_size %u)", id, vx->vocab.n);
    if (vx_vocab_get(&vx->vocab, id, raw, raw_len, text, text_len))
        return vx_fail(err, VX_ECORRUPT, "%s/vocab.bin: entry %u: a string past the string blob or not UTF-8 (V10, V11)",
                       vx->dir, id);
    return VX_OK;
}

int vx_vocab_check(const vx_index *vx, vx_err *err) {
    vx_vocab v;
    char *fp = vx_path(vx->dir, "vocab.bin");
    int rc = fp ? vx_vocab_parse(&v, vx->map[VXF_VOCAB].data, vx->map[VXF_VOCAB].size, fp, err)
                : vx_fail(err, VX_ENOMEM, "out of memory");
    free(fp);
    return rc;
}

/* ------------------------------------------------------------- version 2 (§9) */

uint32_t vx_format_version(const vx_index *vx) { return vx->meta.version; }

const float *vx_spectrum(const vx_index *vx, vx_kind kind, uint32_t layer) {
    if (!vx->spectra || layer >= vx->meta.num_layers || (kind != VX_GATE && kind != VX_DOWN)) return NULL;
    return vx->spectra + ((uint64_t)layer * 2 + (uint64_t)kind) * vx->meta.hidden_size;
}

int vx_weight_stats_get(vx_weight_stats *out, const vx_index *vx, uint32_t layer, vx_mat which, vx_err *err) {
    const vx_meta *m = &vx->meta;
    if (!m->has_battery)
        return vx_fail(err, VX_ENOTFOUND, "%s: no weight battery (format version %u)", vx->dir, m->version);
    if (layer >= m->num_layers || (unsigned)which >= VX_N_MATS || !m->layers[layer].has_mat[which])
        return vx_fail(err, VX_ENOTFOUND, "%s: layer %u has no %s matrix (%u layers)", vx->dir, layer,
                       (unsigned)which < VX_N_MATS ? vx_mat_names[which] : "such", m->num_layers);
    *out = m->layers[layer].weights[which];
    return VX_OK;
}

const float *vx_neuron_norms(const vx_index *vx, uint32_t layer, vx_mat which, uint64_t *count) {
    const vx_meta *m = &vx->meta;
    if (count) *count = 0;
    if (!vx->neurons || layer >= m->num_layers || (unsigned)which >= VX_N_MATS || !m->layers[layer].has_mat[which])
        return NULL;
    const vx_layer_meta *l = &m->layers[layer];
    /* rows in kinds order: gate, [up,] down */
    uint64_t row = which == VX_MAT_GATE ? 0 : which == VX_MAT_UP ? 1 : (uint64_t)l->neurons_kinds - 1;
    if (count) *count = l->neurons_count;
    return vx->neurons + l->neurons_offset / 4 + row * l->neurons_count;
}

const float *vx_moments(const vx_index *vx) { return vx->moments; }

const uint16_t *vx_unembedding(const vx_index *vx) { return vx->unemb; }

int vx_content_digest(char hex[65], const char *dir, vx_err *err) {
    char *p = vx_path(dir, "SHA256SUMS"), *buf = NULL;
    size_t len = 0, n = 0;
    vx_sum *sums = NULL;
    if (!p) return vx_fail(err, VX_ENOMEM, "out of memory");
    int rc = vx_read_file(&buf, &len, p, 1u << 20, err);
    if (rc == VX_OK) rc = vx_sums_parse(&sums, &n, (const uint8_t *)buf, len, p, err);
    if (rc == VX_OK) rc = vx_content_digest_of(hex, sums, n, err);
    free(sums);
    free(buf);
    free(p);
    return rc;
}
