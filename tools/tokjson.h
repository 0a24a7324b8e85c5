/*
 * tokjson.h — the part of a synthetic Metaspace tokenizer.json (pre-tokenizer and decoder)
 * that the benchmark tools mkvindex and mkpair both write, with the options they differ in.
 */
#ifndef VX_TOOLS_TOKJSON_H
#define VX_TOOLS_TOKJSON_H
#include <cjson/cJSON.h>

/* pre_tokenizer and decoder "Metaspace" with "▁", the given prepend_scheme and split. */
static inline void tokjson_metaspace(cJSON *root, const char *prepend_scheme, int split) {
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Metaspace");
    cJSON_AddStringToObject(pre, "replacement", "\xE2\x96\x81");
    cJSON_AddStringToObject(pre, "prepend_scheme", prepend_scheme);
    cJSON_AddBoolToObject(pre, "split", split);
    cJSON *dec = cJSON_AddObjectToObject(root, "decoder");
    cJSON_AddStringToObject(dec, "type", "Metaspace");
    cJSON_AddStringToObject(dec, "replacement", "\xE2\x96\x81");
    cJSON_AddStringToObject(dec, "prepend_scheme", prepend_scheme);
}
#endif
