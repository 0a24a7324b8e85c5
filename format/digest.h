/*
 * digest.h — the content digest of a vindex (spec/vindex-format.md §9 R-B6) from the
 * bytes of a SHA256SUMS, or from (name, SHA-256) pairs already in hand. Pure functions:
 * vx_content_digest (a directory), archive verification (hashes computed from a stream)
 * and the anchors (`verify --digest`) all derive the digest here.
 */
#ifndef VX_FORMAT_DIGEST_H
#define VX_FORMAT_DIGEST_H

#include "vxmeta.h"

/* SHA-256 of the lines "<hex>  <name>\n" of every entry but manifest.json and SHA256SUMS,
 * in byte order of the names (whatever order, or '*' binary markers, the input had), as
 * 64 lowercase hex digits and a NUL. Entries are not modified. Errors: VX_ENOMEM. */
int vx_digest_of_sums(char hex[65], const vx_sum *s, size_t n, vx_err *err);

/* The same from SHA256SUMS bytes (parsed with vx_sums_parse; `fname` for messages).
 * Errors: VX_ECORRUPT, VX_ENOMEM. */
int vx_sums_digest(char hex[65], const uint8_t *buf, size_t len, const char *fname, vx_err *err);

#endif
