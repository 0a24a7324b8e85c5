/*
 * tokregex.h — the regular expressions of tokenizer.json (Split and Replace patterns,
 * the GPT-2 pre-tokenizer), matched as the reference matches them: Oniguruma's Ruby
 * syntax with leftmost-first (backtracking priority) semantics, greedy or lazy
 * quantifiers, find_iter's handling of empty matches — with a bound on the work.
 *
 * Supported: literals and escapes (\t \n \r \f \v \a \e \xHH \x{H..} \uHHHH \0oo, escaped
 * punctuation), `.`, classes [...] with ranges and negation, \s \S \d \D \w \W \h \H,
 * \p{..} \P{..} \p{^..} for general categories (L, Lu, ..., Cn, long names, L&/LC, Any),
 * groups ( ), (?: ), named groups (?<n> ), flags (?i) (?i: ) (?-i: ), lookahead (?= ) (?! ),
 * alternation, * + ? {n} {n,} {n,m} {,m} and their lazy forms, anchors ^ $ \A \z \Z \b \B.
 * Anything else — lookbehind, atomic groups, possessive quantifiers, backreferences,
 * scripts and other properties, class intersection, POSIX brackets, (?m) (?x) — is
 * refused at compile time with an error that names the construct, never matched
 * approximately. Case-insensitive matching compares simple case mappings (no multi-
 * character folds such as ß ~ ss).
 *
 * Work bound: a match is a depth-first search over states (instruction, position) in
 * priority order. A state whose search failed is remembered for the whole scan (its
 * outcome does not depend on where the search started), a state on the current path is
 * not re-entered, and lookahead results are remembered per position, so over a whole
 * find_all of n bytes with an m-instruction program at most 3·m·(n+2) states are ever
 * expanded, each in time bounded by the pattern, with 3·m·(n+1) bits of memory.
 */
#ifndef VX_FORMAT_TOKREGEX_H
#define VX_FORMAT_TOKREGEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct vx_regex vx_regex;

/* Which definition `\w` (and \b) takes: Oniguruma's (tokenizer.json patterns) or Rust
 * regex's (the pre-tokenizers Hugging Face writes with the regex crate). */
typedef enum { VX_RE_ONIG = 0, VX_RE_RUST = 1 } vx_re_flavor;

/* Compile pattern p[0..len) (UTF-8). Returns 0, VX_EUNSUPPORTED (a construct outside the
 * subset, named in `why`), VX_ECORRUPT (a syntax error, described in `why`) or
 * VX_ENOMEM. */
int vx_regex_compile(vx_regex **out, const char *p, size_t len, vx_re_flavor flavor, char *why, size_t whylen);
/* A pattern that matches the literal string s[0..len) (a String pattern). len > 0. */
int vx_regex_literal(vx_regex **out, const char *s, size_t len);
void vx_regex_free(vx_regex *re);
/* Instructions in the compiled program (the m of the bound). */
size_t vx_regex_size(const vx_regex *re);

typedef struct vx_span { size_t start, end; } vx_span;

/* Every match in valid UTF-8 text s[0..n), as Oniguruma's find_iter reports them:
 * non-overlapping, left to right, an empty match right after the previous match skipped.
 * *spans is malloc'd (may be NULL when *count is 0). *steps (if not NULL) receives the
 * states expanded. Errors: VX_ENOMEM. */
int vx_regex_find_all(const vx_regex *re, const char *s, size_t n, vx_span **spans, size_t *count, uint64_t *steps);

#endif
