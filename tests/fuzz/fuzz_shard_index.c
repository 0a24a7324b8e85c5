/*
 * fuzz_shard_index.c — model.safetensors.index.json parsing, reached through vx_ckpt_open (it takes a
 * directory): the input is written as model.safetensors.index.json into a private directory holding links
 * to the tiny-qwen3 fixture (config, sharded safetensors, tokenizer), then the checkpoint
 * is opened. When it opens, the architecture mapping must only describe vectors inside
 * their tensors — checked element by element bound, then the first and last element of
 * every vector set is read.
 */
#include "checkpoint.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Largest element index a vector set reaches, with 128-bit arithmetic so a bad mapping
 * cannot hide behind an overflow. */
static unsigned __int128 shx_last_elem_(const vx_vecset *s, uint64_t H) {
    if (s->count == 0 || H == 0) return 0;
    return s->by_column ? (unsigned __int128)s->offset + (unsigned __int128)(H - 1) * s->ld + (s->count - 1)
                        : (unsigned __int128)s->offset + (unsigned __int128)(s->count - 1) * s->ld + (H - 1);
}

static void shx_check_set_(const vx_vecset *s, uint64_t H, const char *what, uint32_t l) {
    FUZZ_ASSERT(s->t && s->t->data, "layer %u %s: no tensor", l, what);
    FUZZ_ASSERT(shx_last_elem_(s, H) < s->t->nelem, "layer %u %s: vectors reach past tensor '%s' (%llu elements)", l,
                what, s->t->name, (unsigned long long)s->t->nelem);
    if (s->count && H) {
        fuzz_sink_ += (unsigned)vx_tensor_get(s->t, s->offset);
        fuzz_sink_ += (unsigned)vx_tensor_get(s->t, (uint64_t)shx_last_elem_(s, H));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_restore_file("config.json"); /* fuzz one file at a time */
    fuzz_put_file("model.safetensors.index.json", data, size);
    vx_ckpt *c = NULL;
    vx_err err = { 0 };
    int rc = vx_ckpt_open(&c, fuzz_ckpt_dir(), NULL, &err);
    fuzz_result("fuzz_shard_index", rc, err.msg);
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
        for (int i = 0; i < ly->n_gate; i++) shx_check_set_(&ly->gate[i], H, "gate", l);
        for (int i = 0; i < ly->n_down; i++) shx_check_set_(&ly->down[i], H, "down", l);
        for (int i = 0; i < ly->n_norms; i++)
            FUZZ_ASSERT(ly->norms[i] && ly->norms[i]->nelem >= 1 && ly->norm_names[i], "layer %u norm %d", l, i);
    }
    size_t nf = 0, cl = 0;
    const vx_source_file *sf = vx_ckpt_files(c, &nf);
    for (size_t i = 0; i < nf; i++) fuzz_touch(sf[i].name, strlen(sf[i].name));
    const uint8_t *cfg = vx_ckpt_config(c, &cl);
    FUZZ_ASSERT(cfg != NULL && cl > 0, "no config bytes");
    vx_ckpt_close(c);
    return 0;
}
