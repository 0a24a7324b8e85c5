/*
 * fuzz_index_json.c — vx_meta_parse (index.json, spec R-I*) on arbitrary bytes. What it
 * accepts must be self-consistent: layer table and file table match the shapes, and the
 * metadata serialises (vx_meta_write) to JSON that parses again to the same text — the
 * extractor writes index.json with that function, so a parsed index must survive it.
 * And the sigma arrays read outside cJSON (metalift.h) must give what cJSON alone gives:
 * the same code, message and values.
 */
#include "metalift.h"
#include "vxmeta.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vx_meta m;
    memset(&m, 0, sizeof m);
    vx_err err = { 0 };
    int rc = vx_meta_parse(&m, data, size, "index.json", &err);
    fuzz_result("fuzz_index_json", rc, err.msg);
    {
        vx_meta w;
        vx_err werr = { 0 };
        vx_meta_lift_enabled = 0;
        int wrc = vx_meta_parse(&w, data, size, "index.json", &werr);
        vx_meta_lift_enabled = 1;
        FUZZ_ASSERT(wrc == rc && !strcmp(werr.msg, err.msg), "lifted: %d '%s'; cJSON alone: %d '%s'", rc, err.msg, wrc,
                    werr.msg);
        for (uint32_t l = 0; rc == VX_OK && l < m.num_layers; l++)
            FUZZ_ASSERT(!memcmp(m.layers[l].gate_sigma, w.layers[l].gate_sigma, m.num_feats * sizeof(float)) &&
                        !memcmp(m.layers[l].down_sigma, w.layers[l].down_sigma, m.num_feats * sizeof(float)),
                        "layer %u: lifted sigma differ from cJSON's", l);
        if (wrc == VX_OK) vx_meta_free(&w);
    }
    if (rc) {
        FUZZ_ASSERT(rc == VX_ECORRUPT || rc == VX_EUNSUPPORTED || rc == VX_ENOMEM, "rc %d", rc);
        FUZZ_ASSERT(err.msg[0], "no message for rc %d", rc);
        vx_meta_free(&m);
        return 0;
    }
    FUZZ_ASSERT(m.num_layers >= 1 && m.num_layers <= VX_MAX_LAYERS, "L %u", m.num_layers);
    FUZZ_ASSERT(m.num_feats >= 1 && m.num_feats <= VX_MAX_FEATS && m.num_feats <= m.hidden_size, "F %u", m.num_feats);
    FUZZ_ASSERT(m.hidden_size >= 1 && m.hidden_size <= VX_MAX_HIDDEN, "H %u", m.hidden_size);
    FUZZ_ASSERT(m.vocab_size >= 1 && m.vocab_size <= VX_MAX_VOCAB, "V %u", m.vocab_size);
    FUZZ_ASSERT(m.down_top_k >= 1 && m.down_top_k <= VX_MAX_TOPK && m.down_top_k <= m.vocab_size, "K %u", m.down_top_k);
    uint64_t lbytes = (uint64_t)m.num_feats * m.hidden_size * 2;
    for (uint32_t l = 0; l < m.num_layers; l++) {
        const vx_layer_meta *lm = &m.layers[l];
        FUZZ_ASSERT(lm->layer == l && lm->num_features == m.num_feats, "layer %u", l);
        FUZZ_ASSERT(lm->offset == l * lbytes && lm->length == lbytes, "layer %u offset/length", l);
        for (uint32_t f = 0; f < m.num_feats; f++) {
            FUZZ_ASSERT(lm->gate_sigma[f] >= 0 && lm->down_sigma[f] >= 0, "layer %u sigma %u", l, f);
            if (f) FUZZ_ASSERT(lm->gate_sigma[f] <= lm->gate_sigma[f - 1] && lm->down_sigma[f] <= lm->down_sigma[f - 1],
                               "layer %u sigma %u increases", l, f);
        }
    }
    uint64_t at = 0;
    for (size_t i = 0; i < m.n_norms; i++) {
        FUZZ_ASSERT(m.norms[i].offset == at, "norm %zu at %llu, expected %llu", i, (unsigned long long)m.norms[i].offset,
                    (unsigned long long)at);
        fuzz_touch(m.norms[i].name, strlen(m.norms[i].name));
        at += 4 * m.norms[i].count;
    }
    FUZZ_ASSERT(at == m.norms_bytes, "norms end at %llu, norms_bytes %llu", (unsigned long long)at,
                (unsigned long long)m.norms_bytes);
    static const char *const sized[5] = { "gate_vectors.bin", "down_features.bin", "embeddings.bin", "down_meta.bin", "norms.bin" };
    const uint64_t want[5] = { vx_meta_features_bytes(&m), vx_meta_features_bytes(&m), vx_meta_embeddings_bytes(&m),
                               vx_meta_down_meta_bytes(&m), m.norms_bytes };
    for (int i = 0; i < 5; i++) {
        const vx_file_meta *fm = vx_meta_file(&m, sized[i]);
        FUZZ_ASSERT(fm && fm->bytes == want[i], "%s: %llu bytes, shapes imply %llu", sized[i],
                    fm ? (unsigned long long)fm->bytes : 0ull, (unsigned long long)want[i]);
    }
    FUZZ_ASSERT(vx_meta_file(&m, "vocab.bin") && vx_meta_file(&m, "tokenizer.json"), "file table incomplete");

    /* Format version 2 (spec §9): the battery all or nothing, neurons blocks tiling
     * neurons.bin, weights shaped by the neurons, the unembedding consistent. */
    FUZZ_ASSERT(m.version == 1 || m.version == 2, "version %u", m.version);
    FUZZ_ASSERT(m.version == 2 || (!m.has_battery && m.unembedding == VX_UNEMB_V1 && !vx_meta_file(&m, "spectra.bin") &&
                                   !vx_meta_file(&m, "unembed.bin")), "version 1 with version-2 content");
    FUZZ_ASSERT(!!vx_meta_file(&m, "unembed.bin") == (m.unembedding == VX_UNEMB_FILE), "unembed.bin vs unembedding");
    if (m.version == 2)
        FUZZ_ASSERT((m.unembedding == VX_UNEMB_EMBEDDINGS) == (m.tied_embeddings != 0), "unembedding vs tied");
    if (m.has_battery) {
        uint64_t nat = 0;
        for (uint32_t l = 0; l < m.num_layers; l++) {
            const vx_layer_meta *lm = &m.layers[l];
            uint64_t N = lm->neurons_count;
            FUZZ_ASSERT(lm->neurons_offset == nat && N >= m.num_feats, "layer %u neurons", l);
            FUZZ_ASSERT(lm->neurons_kinds == 2 + lm->has_mat[VX_MAT_UP] && lm->has_mat[VX_MAT_GATE] && lm->has_mat[VX_MAT_DOWN],
                        "layer %u kinds", l);
            nat += (uint64_t)lm->neurons_kinds * N * 4;
            for (int k = 0; k < VX_N_MATS; k++) {
                if (!lm->has_mat[k]) continue;
                const vx_weight_stats *w = &lm->weights[k];
                FUZZ_ASSERT(k == VX_MAT_DOWN ? (w->rows == m.hidden_size && w->cols == N) : (w->rows == N && w->cols == m.hidden_size),
                            "layer %u %s shape", l, vx_mat_names[k]);
                FUZZ_ASSERT(w->fro >= 0 && w->fro - w->fro == 0, "layer %u fro", l);
                for (int t = 0; t < VX_N_SPARSITY; t++)
                    FUZZ_ASSERT(w->sparsity[t] >= 0 && w->sparsity[t] <= 1 && (!t || w->sparsity[t] >= w->sparsity[t - 1]),
                                "layer %u sparsity", l);
            }
        }
        FUZZ_ASSERT(nat == m.neurons_bytes && vx_meta_file(&m, "neurons.bin")->bytes == nat, "neurons.bin tiling");
        FUZZ_ASSERT(vx_meta_file(&m, "spectra.bin")->bytes == vx_meta_spectra_bytes(&m) &&
                    vx_meta_file(&m, "moments.bin")->bytes == vx_meta_moments_bytes(&m), "battery sizes");
    } else
        FUZZ_ASSERT(!vx_meta_file(&m, "neurons.bin") && !vx_meta_file(&m, "moments.bin"), "half a battery");

    /* round trip: write, parse, write again — identical text */
    char *j1 = vx_meta_write(&m);
    if (j1) {
        vx_meta m2;
        memset(&m2, 0, sizeof m2);
        rc = vx_meta_parse(&m2, (const uint8_t *)j1, strlen(j1), "index.json (rewritten)", &err);
        FUZZ_ASSERT(rc == VX_OK || rc == VX_ENOMEM, "rewritten index.json rejected: %s", err.msg);
        if (rc == VX_OK) {
            char *j2 = vx_meta_write(&m2);
            FUZZ_ASSERT(!j2 || strcmp(j1, j2) == 0, "index.json does not round-trip");
            free(j2);
        }
        vx_meta_free(&m2);
        free(j1);
    }
    vx_meta_free(&m);
    return 0;
}
