/*
 * safetensors.h — a validating parser for one safetensors file held in memory.
 *
 * Byte layout (huggingface/safetensors README): u64 LE header length N; N bytes of UTF-8
 * JSON object (may be right-padded with spaces); then the data buffer. Rules applied
 * (spec/checkpoint-input.md, rules S1-S9): N <= 100,000,000; 8+N <= len; header is a JSON object;
 * every entry has a known dtype string, a shape of non-negative integers and
 * data_offsets [begin,end]; element count and byte size use checked arithmetic and must
 * equal end-begin; sorted by begin the tensors tile the buffer exactly (first at 0, each
 * begins where the previous ended, last ends at len-8-N: no gaps, overlaps or trailing
 * bytes); names are unique, valid UTF-8 and not "__metadata__"; "__metadata__" if
 * present is an object of strings.
 */
#ifndef VX_FORMAT_SAFETENSORS_H
#define VX_FORMAT_SAFETENSORS_H

#include "common.h"

#define VX_ST_MAX_HEADER 100000000ull
#define VX_ST_MAX_DIMS 8

typedef enum {
    VX_DT_F32, VX_DT_F16, VX_DT_BF16, /* readable by the extractor */
    VX_DT_F64, VX_DT_I64, VX_DT_I32, VX_DT_I16, VX_DT_I8, VX_DT_U64, VX_DT_U32, VX_DT_U16, VX_DT_U8,
    VX_DT_BOOL, VX_DT_F8_E4M3, VX_DT_F8_E5M2, VX_DT_F8_E8M0, VX_DT_F8_E4M3FNUZ, VX_DT_F8_E5M2FNUZ,
    VX_DT_C64, VX_DT_F4, VX_DT_F6_E2M3, VX_DT_F6_E3M2,
    VX_DT_COUNT
} vx_dtype;

const char *vx_dtype_name(vx_dtype d); /* "F32", ... */
unsigned vx_dtype_bits(vx_dtype d);    /* 32, 16, ... 4 */

typedef struct vx_st_tensor {
    char *name;                    /* NUL-terminated, owned by the vx_st_file */
    vx_dtype dtype;
    int ndim;                      /* 0..VX_ST_MAX_DIMS */
    uint64_t shape[VX_ST_MAX_DIMS];
    uint64_t nelem;                /* product of shape (1 for rank 0) */
    uint64_t begin, end;           /* byte offsets relative to the data buffer */
    const uint8_t *data;           /* = buffer + 8 + N + begin; borrowed from the caller's buffer */
} vx_st_tensor;

typedef struct vx_st_file {
    vx_st_tensor *tensors;         /* in header order */
    size_t n;
} vx_st_file;

/*
 * Parse and validate `buf[0..len)`. `fname` is used only in error messages
 * ("model.safetensors: header: tensor 'x': data_offsets [8,4]: end before begin").
 * On success tensors point into `buf`, which must outlive `f`.
 * Errors: VX_ECORRUPT for any violation above, VX_EUNSUPPORTED never (unknown dtype
 * strings are VX_ECORRUPT: the set is closed here), VX_ENOMEM.
 */
int vx_st_parse(vx_st_file *f, const uint8_t *buf, size_t len, const char *fname, vx_err *err);
void vx_st_free(vx_st_file *f); /* accepts a zeroed struct */
const vx_st_tensor *vx_st_find(const vx_st_file *f, const char *name);

#endif
