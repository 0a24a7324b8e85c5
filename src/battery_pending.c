/*
 * battery_pending.c — weak fallbacks for the version-2 accessors of vindex.h until their
 * implementation (the battery work, src/open.c) is on main: each answers as a version-1
 * vindex does (nothing stored), which is exactly what stats reports then. The real,
 * strong definitions replace these at link time; delete this file once they land.
 */
#include "vxindex.h"

__attribute__((weak)) uint32_t vx_format_version(const vx_index *vx) { return vx->meta.version; }
__attribute__((weak)) const float *vx_spectrum(const vx_index *vx, vx_kind kind, uint32_t layer) {
    (void)vx; (void)kind; (void)layer;
    return NULL;
}
__attribute__((weak)) int vx_weight_stats_get(vx_weight_stats *out, const vx_index *vx, uint32_t layer, vx_mat which,
                                              vx_err *err) {
    (void)out; (void)vx; (void)layer; (void)which;
    return vx_fail(err, VX_ENOTFOUND, "no weight battery: extracted by format version 1");
}
__attribute__((weak)) const float *vx_neuron_norms(const vx_index *vx, uint32_t layer, vx_mat which, uint64_t *count) {
    (void)vx; (void)layer; (void)which;
    *count = 0;
    return NULL;
}
__attribute__((weak)) const float *vx_moments(const vx_index *vx) { (void)vx; return NULL; }
__attribute__((weak)) const uint16_t *vx_unembedding(const vx_index *vx) {
    return vx->info.tied_embeddings ? vx->emb : NULL;
}
