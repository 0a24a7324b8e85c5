/*
 * html.h — the report's text output: a growable buffer, escaping of hostile bytes for
 * HTML and inline SVG, and writing a finished file atomically. Used by `vindex report`
 * (cli/cmd_report.c, cli/svg.c); nothing here knows about vindexes.
 */
#ifndef VX_CLI_HTML_H
#define VX_CLI_HTML_H
#include <stddef.h>

/* A growable byte buffer. Zero-initialise it; after an allocation failure `failed` is
 * set and further appends do nothing, so callers check once at the end. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    int failed;
} sbuf;

void sb_put(sbuf *b, const char *s, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_free(sbuf *b);

/*
 * Append `n` bytes of untrusted text (token strings, paths, model names) so that they
 * read as text in HTML element content, in a quoted attribute and in SVG <title>:
 * & < > " ' become character references; C0 controls, DEL, C1 controls, the bidi
 * controls (U+200E/F, U+202A..E, U+2066..9) and U+2028/9 are shown as visible escapes
 * ("\n", "\t", "\x01", "\u202e"); bytes that are not well-formed UTF-8 (RFC 3629) are
 * shown as "\xNN". The output is always valid UTF-8 and never starts markup.
 */
void sb_esc(sbuf *b, const char *s, size_t n);
/* sb_esc of a NUL-terminated string. */
void sb_escs(sbuf *b, const char *s);

/*
 * Write `n` bytes to `path` atomically: a temporary file in the same directory, fsync,
 * rename over `path`, fsync of the directory. On failure nothing is left but a previous
 * `path`, untouched. Returns 0, or -1 with a message "path: what failed: strerror" in
 * msg (msg_size bytes).
 */
int write_file_atomic(const char *path, const char *data, size_t n, char *msg, size_t msg_size);

#endif
