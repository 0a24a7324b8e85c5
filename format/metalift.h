/*
 * metalift.h — index.json's singular values, taken out of the document before cJSON sees it.
 *
 * The per-layer arrays layers[i].gate_sigma and layers[i].down_sigma are nearly all of an
 * index.json (2·L·F numbers: 9,216 at the Qwen3-8B shape, ~95% of its bytes). Through
 * cJSON each becomes a heap node and a strtod call, which made parsing index.json the
 * largest cost of opening a vindex. vx_meta_lift finds them with a small scanner, checks
 * that each is a non-empty array of strict JSON numbers, and gives cJSON a copy of the
 * document in which those arrays are empty; vx_meta_parse then reads their numbers from
 * the original bytes with vx_json_number (vxmeta.c, get_sigma), applying the same rules
 * (R-I7) as to numbers cJSON parsed.
 *
 * The result must be what cJSON alone would have given, on any input. So the scanner lifts
 * only what it is sure of, and otherwise nothing at all (the whole document then goes to
 * cJSON as before): the root is an object whose keys and whose layer objects' keys hold no
 * escape (an escaped key could name the same member), the member is the first of its name
 * (cJSON returns the first), every number follows RFC 8259 and is at most 63 characters
 * (cJSON reads at most 63), nesting stays shallow, and anything the scanner does not
 * recognise ends it. tests/test_metalift.c and fuzz_index_json.c compare both ways.
 */
#ifndef VX_FORMAT_METALIFT_H
#define VX_FORMAT_METALIFT_H

#include "common.h"

/* The interior of one lifted array: bytes [off, off+len) of the original document, holding
 * `count` numbers separated by commas and whitespace. */
typedef struct vx_lift_span { size_t off, len; uint32_t count; } vx_lift_span;

typedef struct vx_lifted {
    char *json;           /* the document with the lifted arrays emptied (malloc'd), or NULL: nothing lifted */
    size_t len;
    vx_lift_span *spans;  /* [n_layers][2]: gate (0), down (1); count 0 = not lifted */
    uint32_t n_layers;    /* elements of the root's first "layers" array seen */
} vx_lifted;

/* Nonzero (the default) lets vx_meta_parse lift; tests clear it to compare with cJSON alone. */
extern int vx_meta_lift_enabled;

/* Lift what can be lifted from buf[0..len); out->json is NULL when nothing was (also when
 * memory ran out: cJSON then reads the whole document, as it would have). */
void vx_meta_lift(vx_lifted *out, const uint8_t *buf, size_t len);
void vx_lifted_free(vx_lifted *l);
/* The lifted span of layer i's gate (kind 0) or down (kind 1) array, or NULL. */
const vx_lift_span *vx_lifted_span(const vx_lifted *l, uint32_t layer, int kind);

/* One RFC 8259 number at p (p < end): returns its length (0 when p does not start one) and
 * sets *v to the double strtod gives for it — exactly, with a fast path for up to 19
 * significant digits and a power of ten up to 22 (Clinger), strtod otherwise. */
size_t vx_json_number(const char *p, const char *end, double *v);

#endif
