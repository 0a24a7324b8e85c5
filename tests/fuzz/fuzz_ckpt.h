/*
 * fuzz_ckpt.h — the body shared by the two targets that reach their parser through
 * vx_ckpt_open (fuzz_config, fuzz_shard_index): write the input as one checkpoint file,
 * open, and check that the architecture mapping only describes vectors inside their tensors.
 */
#ifndef VX_FUZZ_CKPT_H
#define VX_FUZZ_CKPT_H
#include <string.h>

#include "checkpoint.h"

#include "fuzz_common.h"

/* Largest element index a vector set reaches, with 128-bit arithmetic so a bad mapping
 * cannot hide behind an overflow. */
static unsigned __int128 ckpt_last_elem_(const vx_vecset *s, uint64_t H) {
    if (s->count == 0 || H == 0) return 0;
    return s->by_column ? (unsigned __int128)s->offset + (unsigned __int128)(H - 1) * s->ld + (s->count - 1)
                        : (unsigned __int128)s->offset + (unsigned __int128)(s->count - 1) * s->ld + (H - 1);
}

static void ckpt_check_set_(const vx_vecset *s, uint64_t H, const char *what, uint32_t l) {
    FUZZ_ASSERT(s->t && s->t->data, "layer %u %s: no tensor", l, what);
    FUZZ_ASSERT(ckpt_last_elem_(s, H) < s->t->nelem, "layer %u %s: vectors reach past tensor '%s' (%llu elements)", l,
                what, s->t->name, (unsigned long long)s->t->nelem);
    if (s->count && H) {
        fuzz_sink_ += (unsigned)vx_tensor_get(s->t, s->offset);
        fuzz_sink_ += (unsigned)vx_tensor_get(s->t, (uint64_t)ckpt_last_elem_(s, H));
    }
}

/* Write the fuzz input as `fuzzed` (restoring `other` to the fixture's copy: one file at a
 * time), open the checkpoint, and check every promise an opened vx_model makes. `is_config`:
 * the config bytes the checkpoint exposes must be exactly the input. */
static int fuzz_ckpt_one(const char *target, const char *fuzzed, const char *other, int is_config, const uint8_t *data,
                         size_t size) {
    fuzz_restore_file(other);
    fuzz_put_file(fuzzed, data, size);
    vx_ckpt *c = NULL;
    vx_err err = { 0 };
    int rc = vx_ckpt_open(&c, fuzz_ckpt_dir(), NULL, &err);
    fuzz_result(target, rc, err.msg);
    if (rc) {
        FUZZ_ASSERT(rc == VX_ECORRUPT || rc == VX_EUNSUPPORTED || rc == VX_ENOTFOUND || rc == VX_ENOMEM || rc == VX_EIO,
                    "rc %d", rc);
        FUZZ_ASSERT(c == NULL && err.msg[0], "error without message or with a result");
        return 0;
    }
    const vx_model *m = vx_ckpt_model(c);
    uint64_t H = m->hidden_size;
    FUZZ_ASSERT(m->num_layers >= 1 && H >= 1 && m->vocab_size >= 1, "L %u H %u V %u", m->num_layers, m->hidden_size,
                m->vocab_size);
    FUZZ_ASSERT(m->embed && m->unembed && m->final_norm, "missing global tensors");
    FUZZ_ASSERT((unsigned __int128)m->vocab_size * H <= m->embed->nelem, "embedding smaller than V x H");
    FUZZ_ASSERT((unsigned __int128)m->vocab_size * H <= m->unembed->nelem, "unembedding smaller than V x H");
    FUZZ_ASSERT(m->final_norm->nelem >= H, "final norm shorter than H");
    for (uint32_t l = 0; l < m->num_layers; l++) {
        const vx_layer *ly = &m->layers[l];
        FUZZ_ASSERT(ly->n_gate >= 1 && ly->n_down >= 1, "layer %u: %d gate, %d down sets", l, ly->n_gate, ly->n_down);
        for (int i = 0; i < ly->n_gate; i++) ckpt_check_set_(&ly->gate[i], H, "gate", l);
        for (int i = 0; i < ly->n_down; i++) ckpt_check_set_(&ly->down[i], H, "down", l);
        for (int i = 0; i < ly->n_norms; i++)
            FUZZ_ASSERT(ly->norms[i] && ly->norms[i]->nelem >= 1 && ly->norm_names[i], "layer %u norm %d", l, i);
    }
    size_t nf = 0, cl = 0;
    const vx_source_file *sf = vx_ckpt_files(c, &nf);
    for (size_t i = 0; i < nf; i++) fuzz_touch(sf[i].name, strlen(sf[i].name));
    const uint8_t *cfg = vx_ckpt_config(c, &cl);
    if (is_config) FUZZ_ASSERT(cl == size && (size == 0 || memcmp(cfg, data, size) == 0), "config bytes differ from the file");
    else FUZZ_ASSERT(cfg != NULL && cl > 0, "no config bytes");
    vx_ckpt_close(c);
    return 0;
}

#endif
