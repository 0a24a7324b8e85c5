/*
 * cli.h — shared pieces of the `vindex` command. The command uses only the public API
 * (the headers in include/); each subcommand is `int cmd_X(int argc, char **argv)` returning the exit
 * status: 0 ok, 1 failure or mismatch, 2 usage error.
 */
#ifndef VX_CLI_H
#define VX_CLI_H
#include <stdio.h>

#include "vindex.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

int cmd_extract(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_nearest(int argc, char **argv);
int cmd_describe(int argc, char **argv);
int cmd_lens(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_map(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_unpack(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* "vindex: <msg>" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Exit status for a library error code. */
int cli_exit_for(int code);
/* Print a usage error and a hint to --help; returns EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse a non-negative integer argument into *out within [lo, hi]; 0 ok, -1 bad. */
int cli_int(const char *s, long lo, long hi, long *out);
/* --layers A-B (or one layer A) into o->part, o->layer_first, o->layer_last, as extract
 * and plan take it; 0 ok, -1 bad. */
struct vx_extract_opts;
int cli_layers(const char *s, struct vx_extract_opts *o);
/* Print s as a JSON string (quoted, escaped) of n bytes. */
void cli_json_str(FILE *f, const char *s, size_t n);
/* Print s with control characters escaped, for human-readable output. */
void cli_print_token(FILE *f, const char *s, size_t n);
/* Token `id`'s raw form quoted ('...', escaped as cli_print_token does) on stdout; "'?'"
 * when the vindex cannot give it. */
void cli_print_token_id(const vx_index *vx, uint32_t id);
/* Set when a token's entry in vocab.bin was found damaged: the command exits 1. */
extern int cli_corrupt_seen;
/* Token `id`'s raw form as a cJSON string ("?" when the vindex cannot give it; JSON null
 * when out of memory). An incomplete type, so cli.h needs no other header. */
struct cJSON;
struct cJSON *cli_token_json(const vx_index *vx, uint32_t id);
/* The JSON arrays of `nearest`: [{"token", "token_id", "cosine"}] and [{"layer", "feature",
 * "kind", "cosine"}]. */
struct vx_tok_hit;
struct vx_feat_hit;
struct cJSON *cli_tok_hits_json(const vx_index *vx, const struct vx_tok_hit *t, size_t n);
struct cJSON *cli_feat_hits_json(const struct vx_feat_hit *f, size_t n);

/* The JSON text of a vx_stats result (spec/stats.md §7), as `vindex stats --json` prints
 * it; `path` is the vindex path to record. NUL-terminated, owned by the caller (free());
 * NULL when out of memory. Declared as incomplete types so cli.h needs no other header. */
struct vx_stats;
char *cli_stats_json(const struct vx_stats *s, const vx_index *vx, const char *path);

#endif
