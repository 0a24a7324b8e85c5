/*
 * vx_plan.h — what `extract` would do with a checkpoint, from its headers and configs
 * alone (no tensor data is read): the architecture row matched, the layers and experts,
 * which tensors will be read and which ignored, the vindex's files and size, the time and
 * peak memory to expect on this machine, and the reason extraction would refuse
 * (spec/plan.md). Conventions are vindex.h's.
 */
#ifndef VX_PLAN_H
#define VX_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "vindex.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vx_plan_file { char name[32]; uint64_t bytes; int exact; } vx_plan_file;
typedef struct vx_plan_dtype { char dtype[16]; uint64_t tensors, bytes; } vx_plan_dtype;

typedef struct vx_plan {
    char source[1024];            /* the checkpoint directory as resolved */
    char repo[256];               /* Hub repo id, "" for a plain directory */
    char architecture[96], model_type[64], family[32], dtype[32], quant[32];
    uint32_t num_layers, hidden_size, intermediate_size, vocab_size;
    uint32_t features, top_k;     /* as extract will cap them (R-E2) */
    int tied, unembed;            /* unembed: unembed.bin will be written */
    uint32_t sparse_layers, max_experts;
    uint32_t *experts;            /* [num_layers]: experts per layer (0 dense) */
    uint64_t widest_layer;        /* most stacked neurons in one layer */
    uint64_t tensors_read, bytes_read, tensors_ignored, bytes_ignored, mtp_tensors, bytes_cached;
    vx_plan_dtype dtypes[8]; size_t n_dtypes;  /* of the tensors read */
    vx_plan_file files[16]; size_t n_files;    /* the vindex's files; exact = size known now */
    uint64_t out_bytes;
    double flops;                 /* multiply-adds ×2 of the Grams, eigensolves, Rayleigh–Ritz, projection */
    double sgemm_gflops;          /* measured here, in process, now */
    double disk_gbps;             /* assumed for bytes not in the page cache */
    double seconds_compute, seconds_read, seconds;  /* estimates (spec/plan.md) */
    uint64_t peak_bytes;          /* estimated peak resident memory of the extraction */
    char warnings[4][256]; int n_warnings;
    int part;                     /* o->part: the plan of a part (spec/parts.md), layers below */
    uint32_t layer_first, layer_last;  /* the layers computed: 0..num_layers-1 unless a part */
} vx_plan;

/*
 * Plan the extraction `o` describes (o->src, o->revision, o->features, o->top_k,
 * o->unembed, and o->part with o->layer_first..o->layer_last for a part; o->out may be
 * NULL — when set, its filesystem's free space is checked).
 * `disk_gbps` (> 0) is the read speed assumed for checkpoint bytes not in the page cache.
 * Every refusal extract would make before reading tensor data is returned here with the
 * same code and message. Errors: those of vx_extract's checks (VX_EUSAGE, VX_ENOTFOUND,
 * VX_ECORRUPT, VX_EUNSUPPORTED, VX_EEXIST, VX_EIO, VX_ENOMEM).
 */
int vx_plan_make(vx_plan **out, const vx_extract_opts *o, double disk_gbps, vx_err *err);
void vx_plan_free(vx_plan *p);

#ifdef __cplusplus
}
#endif
#endif /* VX_PLAN_H */
