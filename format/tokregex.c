/*
 * tokregex.c — compile a tokenizer.json regex into a small instruction program and find
 * its matches with a memoised depth-first search (see tokregex.h for the subset and the
 * bound).
 *
 * Program: CHAR cp | CLASS k | ANY | SPLIT x,y (try x, then y) | JMP x | ASSERT kind |
 * LOOK body (positive or negative lookahead; the body is a program of its own placed
 * after the main one and ending in MATCH) | MATCH. Counted repetition is unrolled, so a
 * state is just (pc, pos).
 *
 * Search: an explicit stack of EXPLORE(pc, pos) and FINISH(pc, pos) frames. Expanding a
 * state marks it on-path and pushes its FINISH under its successors (the preferred one
 * on top); popping FINISH means every continuation failed, so the state is marked
 * failed — for good, because whether (pc, pos) can reach MATCH depends on nothing but
 * pc, pos and the text. When MATCH is reached, the frames still on the stack are exactly
 * the on-path states; their mark is cleared (in a lookahead body they are marked
 * succeeded instead: a lookahead only asks whether). Hence each state fails at most once
 * in a whole scan, and the states of a successful path lie between the match's start
 * and end, which later searches never revisit except at the end position itself.
 */
#include "tokregex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "unicode.h"

#define PROG_MAX 20000u   /* instructions; unrolled counted repeats stop here */
#define REPEAT_MAX 1000u  /* largest {n,m} bound accepted */
#define DEPTH_MAX 200     /* nesting of groups in the pattern */

/* ------------------------------------------------------------------ classes */

enum { SET_CAT, SET_SPACE, SET_WORD, SET_HEX, SET_WORD_ESC };

typedef struct set_item { uint8_t kind, neg; uint32_t mask; } set_item;
typedef struct cls {
    int neg;
    uint32_t (*r)[2]; size_t nr;   /* [nr] inclusive code point ranges */
    set_item *s; size_t ns;
} cls;

enum { I_CHAR, I_CLASS, I_ANY, I_SPLIT, I_JMP, I_ASSERT, I_LOOK, I_MATCH };
enum { A_BOL, A_EOL, A_BOT, A_EOT, A_EOTNL, A_WORDB, A_NWORDB };

typedef struct inst {
    uint8_t op, ci, neg;
    uint32_t a, b, lo, up; /* CHAR: a = cp, lo/up its case mappings; CLASS: a = class; SPLIT: a, b; LOOK: a = body, b = memo slot */
} inst;

struct vx_regex {
    inst *prog; size_t n, cap;
    cls *cl; size_t ncl;
    size_t nlook;
    vx_re_flavor flavor;
};

/* ------------------------------------------------------------------- parser */

enum { N_CHAR, N_CLASS, N_ANY, N_CAT, N_ALT, N_REP, N_LOOK, N_ASSERT, N_EMPTY };

typedef struct node {
    int kind;
    uint32_t cp;            /* CHAR */
    size_t cls;             /* CLASS */
    int ci, neg, greedy;    /* case-insensitive (CHAR, CLASS); LOOK negative; REP greedy */
    uint32_t min, max;      /* REP; max UINT32_MAX = unbounded */
    int akind;              /* ASSERT */
    struct node **kid; size_t nkid;
} node;

typedef struct parser {
    const unsigned char *p; size_t len, i;
    vx_regex *re;
    char *why; size_t whylen;
    int rc;
    int depth;
} parser;

static int perr(parser *ps, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(parser *ps, int code, const char *fmt, ...) {
    if (ps->rc) return ps->rc;
    va_list ap;
    va_start(ap, fmt);
    char msg[160];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ps->why && ps->whylen) snprintf(ps->why, ps->whylen, "%s at character %zu", msg, ps->i);
    return ps->rc = code;
}

static void node_free(node *n) {
    if (!n) return;
    for (size_t i = 0; i < n->nkid; i++) node_free(n->kid[i]);
    free(n->kid);
    free(n);
}

static node *node_new(parser *ps, int kind) {
    node *n = calloc(1, sizeof *n);
    if (!n) { perr(ps, VX_ENOMEM, "out of memory"); return NULL; }
    n->kind = kind;
    n->greedy = 1;
    return n;
}

static int node_add(parser *ps, node *n, node *k) {
    node **kk = realloc(n->kid, (n->nkid + 1) * sizeof *kk);
    if (!kk) { node_free(k); return perr(ps, VX_ENOMEM, "out of memory"); }
    n->kid = kk;
    n->kid[n->nkid++] = k;
    return 0;
}

static int at_end(const parser *ps) { return ps->i >= ps->len; }
static uint32_t peek(const parser *ps) {
    uint32_t cp;
    vx_utf8_next(ps->p + ps->i, ps->len - ps->i, &cp);
    return cp;
}
static uint32_t next(parser *ps) {
    uint32_t cp;
    ps->i += vx_utf8_next(ps->p + ps->i, ps->len - ps->i, &cp);
    return cp;
}

static cls *cls_new(parser *ps, size_t *idx) {
    vx_regex *re = ps->re;
    cls *c = realloc(re->cl, (re->ncl + 1) * sizeof *c);
    if (!c) { perr(ps, VX_ENOMEM, "out of memory"); return NULL; }
    re->cl = c;
    memset(&c[re->ncl], 0, sizeof *c);
    *idx = re->ncl++;
    return &c[*idx];
}

static int cls_range(parser *ps, cls *c, uint32_t lo, uint32_t hi) {
    uint32_t (*r)[2] = realloc(c->r, (c->nr + 1) * sizeof *r);
    if (!r) return perr(ps, VX_ENOMEM, "out of memory");
    c->r = r;
    c->r[c->nr][0] = lo; c->r[c->nr][1] = hi;
    c->nr++;
    return 0;
}

static int cls_set(parser *ps, cls *c, set_item it) {
    set_item *s = realloc(c->s, (c->ns + 1) * sizeof *s);
    if (!s) return perr(ps, VX_ENOMEM, "out of memory");
    c->s = s;
    c->s[c->ns++] = it;
    return 0;
}

/* Property name → category mask, compared as Oniguruma does (case, spaces, '_' and '-'
 * ignored). 0 if unknown. */
static uint32_t prop_mask(const char *name) {
    static const struct { const char *n; uint32_t m; } T[] = {
        { "l", VX_GC_L }, { "letter", VX_GC_L }, { "lu", VX_GC_LU }, { "uppercaseletter", VX_GC_LU },
        { "ll", VX_GC_LL }, { "lowercaseletter", VX_GC_LL }, { "lt", VX_GC_LT }, { "titlecaseletter", VX_GC_LT },
        { "lm", VX_GC_LM }, { "modifierletter", VX_GC_LM }, { "lo", VX_GC_LO }, { "otherletter", VX_GC_LO },
        { "l&", VX_GC_LU | VX_GC_LL | VX_GC_LT }, { "lc", VX_GC_LU | VX_GC_LL | VX_GC_LT },
        { "casedletter", VX_GC_LU | VX_GC_LL | VX_GC_LT },
        { "m", VX_GC_M }, { "mark", VX_GC_M }, { "combiningmark", VX_GC_M }, { "mn", VX_GC_MN }, { "nonspacingmark", VX_GC_MN },
        { "mc", VX_GC_MC }, { "spacingmark", VX_GC_MC }, { "me", VX_GC_ME }, { "enclosingmark", VX_GC_ME },
        { "n", VX_GC_N }, { "number", VX_GC_N }, { "nd", VX_GC_ND }, { "decimalnumber", VX_GC_ND },
        { "nl", VX_GC_NL }, { "letternumber", VX_GC_NL }, { "no", VX_GC_NO }, { "othernumber", VX_GC_NO },
        { "p", VX_GC_P }, { "punctuation", VX_GC_P }, { "pc", VX_GC_PC }, { "connectorpunctuation", VX_GC_PC },
        { "pd", VX_GC_PD }, { "dashpunctuation", VX_GC_PD }, { "ps", VX_GC_PS }, { "openpunctuation", VX_GC_PS },
        { "pe", VX_GC_PE }, { "closepunctuation", VX_GC_PE }, { "pi", VX_GC_PI }, { "initialpunctuation", VX_GC_PI },
        { "pf", VX_GC_PF }, { "finalpunctuation", VX_GC_PF }, { "po", VX_GC_PO }, { "otherpunctuation", VX_GC_PO },
        { "s", VX_GC_S }, { "symbol", VX_GC_S }, { "sm", VX_GC_SM }, { "mathsymbol", VX_GC_SM },
        { "sc", VX_GC_SC }, { "currencysymbol", VX_GC_SC }, { "sk", VX_GC_SK }, { "modifiersymbol", VX_GC_SK },
        { "so", VX_GC_SO }, { "othersymbol", VX_GC_SO },
        { "z", VX_GC_Z }, { "separator", VX_GC_Z }, { "zs", VX_GC_ZS }, { "spaceseparator", VX_GC_ZS },
        { "zl", VX_GC_ZL }, { "lineseparator", VX_GC_ZL }, { "zp", VX_GC_ZP }, { "paragraphseparator", VX_GC_ZP },
        { "c", VX_GC_C }, { "other", VX_GC_C }, { "cc", VX_GC_CC }, { "control", VX_GC_CC },
        { "cf", VX_GC_CF }, { "format", VX_GC_CF }, { "cs", VX_GC_CS }, { "surrogate", VX_GC_CS },
        { "co", VX_GC_CO }, { "privateuse", VX_GC_CO }, { "cn", VX_GC_CN }, { "unassigned", VX_GC_CN },
        { "any", 0x3FFFFFFFu },
    };
    char k[40];
    size_t o = 0;
    for (const char *q = name; *q && o + 1 < sizeof k; q++) {
        if (*q == ' ' || *q == '_' || *q == '-') continue;
        k[o++] = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
    }
    k[o] = 0;
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (strcmp(T[i].n, k) == 0) return T[i].m;
    return 0;
}

/* After '\p' or '\P': {Name}, {^Name} or a one-letter name. */
static int parse_prop(parser *ps, set_item *it, int upper) {
    char name[40];
    size_t o = 0;
    int neg = upper;
    if (at_end(ps)) return perr(ps, VX_ECORRUPT, "\\p without a property name");
    if (peek(ps) == '{') {
        next(ps);
        if (!at_end(ps) && peek(ps) == '^') { next(ps); neg = !neg; }
        while (!at_end(ps) && peek(ps) != '}') {
            uint32_t c = next(ps);
            if (c >= 0x80 || o + 1 >= sizeof name) return perr(ps, VX_EUNSUPPORTED, "\\p{...}: unknown Unicode property");
            name[o++] = (char)c;
        }
        if (at_end(ps)) return perr(ps, VX_ECORRUPT, "\\p{ without a closing }");
        next(ps);
    } else {
        uint32_t c = next(ps);
        if (c >= 0x80) return perr(ps, VX_EUNSUPPORTED, "\\p: unknown Unicode property");
        name[o++] = (char)c;
    }
    name[o] = 0;
    uint32_t m = prop_mask(name);
    if (!m) return perr(ps, VX_EUNSUPPORTED, "\\p{%s}: Unicode property other than a general category", name);
    *it = (set_item){ SET_CAT, (uint8_t)neg, m };
    return 0;
}

static int hexv(uint32_t c) {
    return c >= '0' && c <= '9' ? (int)(c - '0') : c >= 'a' && c <= 'f' ? (int)(c - 'a' + 10) : c >= 'A' && c <= 'F' ? (int)(c - 'A' + 10) : -1;
}

/* After a backslash. Either a single character (*cp, returns 1) or a set (*it, returns
 * 2), or an assertion (*ak, returns 3, only outside classes); 0 on error. */
static int parse_escape(parser *ps, uint32_t *cp, set_item *it, int *ak, int in_class) {
    if (at_end(ps)) { perr(ps, VX_ECORRUPT, "pattern ends with a backslash"); return 0; }
    uint32_t c = next(ps);
    switch (c) {
    case 't': *cp = '\t'; return 1;
    case 'n': *cp = '\n'; return 1;
    case 'r': *cp = '\r'; return 1;
    case 'f': *cp = '\f'; return 1;
    case 'v': *cp = 0x0B; return 1;
    case 'a': *cp = 0x07; return 1;
    case 'e': *cp = 0x1B; return 1;
    case 'd': case 'D': *it = (set_item){ SET_CAT, c == 'D', VX_GC_ND }; return 2;
    case 's': case 'S': *it = (set_item){ SET_SPACE, c == 'S', 0 }; return 2;
    case 'w': case 'W': *it = (set_item){ SET_WORD, c == 'W', 0 }; return 2;
    case 'h': case 'H': *it = (set_item){ SET_HEX, c == 'H', 0 }; return 2;
    case 'p': case 'P': return parse_prop(ps, it, c == 'P') ? 0 : 2;
    case 'x': {
        uint32_t v = 0;
        int nd = 0;
        if (!at_end(ps) && peek(ps) == '{') {
            next(ps);
            while (!at_end(ps) && peek(ps) != '}') {
                int h = hexv(next(ps));
                if (h < 0 || ++nd > 8) { perr(ps, VX_ECORRUPT, "bad \\x{...} escape"); return 0; }
                v = v << 4 | (uint32_t)h;
            }
            if (at_end(ps) || !nd) { perr(ps, VX_ECORRUPT, "bad \\x{...} escape"); return 0; }
            next(ps);
        } else {
            while (nd < 2 && !at_end(ps) && hexv(peek(ps)) >= 0) { v = v << 4 | (uint32_t)hexv(next(ps)); nd++; }
            if (!nd) { perr(ps, VX_ECORRUPT, "bad \\x escape"); return 0; }
            if (v >= 0x80) { perr(ps, VX_EUNSUPPORTED, "\\x%02X: a raw byte escape above 0x7F", v); return 0; }
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) { perr(ps, VX_ECORRUPT, "escape names no character"); return 0; }
        *cp = v;
        return 1;
    }
    case 'u': {
        uint32_t v = 0;
        for (int k = 0; k < 4; k++) {
            int h = at_end(ps) ? -1 : hexv(peek(ps));
            if (h < 0) { perr(ps, VX_ECORRUPT, "bad \\u escape"); return 0; }
            next(ps);
            v = v << 4 | (uint32_t)h;
        }
        if (v >= 0xD800 && v <= 0xDFFF) { perr(ps, VX_EUNSUPPORTED, "\\u%04X: a surrogate", v); return 0; }
        *cp = v;
        return 1;
    }
    case '0': {
        uint32_t v = 0;
        for (int k = 0; k < 2 && !at_end(ps) && peek(ps) >= '0' && peek(ps) <= '7'; k++) v = v * 8 + (next(ps) - '0');
        *cp = v;
        return 1;
    }
    case 'b':
        if (in_class) { *cp = 0x08; return 1; }
        *ak = A_WORDB; return 3;
    case 'B': if (!in_class) { *ak = A_NWORDB; return 3; } break;
    case 'A': if (!in_class) { *ak = A_BOT; return 3; } break;
    case 'z': if (!in_class) { *ak = A_EOT; return 3; } break;
    case 'Z': if (!in_class) { *ak = A_EOTNL; return 3; } break;
    default: break;
    }
    if (c >= '1' && c <= '9') { perr(ps, VX_EUNSUPPORTED, "backreference \\%c", (char)c); return 0; }
    if (c < 0x80 && ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) {
        perr(ps, VX_EUNSUPPORTED, "escape \\%c", (char)c);
        return 0;
    }
    *cp = c; /* an escaped punctuation mark or any other character is itself */
    return 1;
}

static node *parse_alt(parser *ps, int ci);

/* '[' already consumed. */
static node *parse_class(parser *ps, int ci) {
    size_t idx;
    cls *c = cls_new(ps, &idx);
    if (!c) return NULL;
    if (!at_end(ps) && peek(ps) == '^') { next(ps); c->neg = 1; }
    int first = 1;
    for (;;) {
        if (at_end(ps)) { perr(ps, VX_ECORRUPT, "character class without a closing ]"); return NULL; }
        uint32_t ch = peek(ps);
        if (ch == ']' && !first) { next(ps); break; }
        first = 0;
        if (ch == '[') {
            perr(ps, VX_EUNSUPPORTED, ps->i + 1 < ps->len && ps->p[ps->i + 1] == ':' ? "POSIX bracket [:...:]"
                                                                                      : "nested character class");
            return NULL;
        }
        if (ch == '&' && ps->i + 1 < ps->len && ps->p[ps->i + 1] == '&') {
            perr(ps, VX_EUNSUPPORTED, "character class intersection &&");
            return NULL;
        }
        next(ps);
        uint32_t lo = ch;
        if (ch == '\\') {
            set_item it;
            int ak;
            int k = parse_escape(ps, &lo, &it, &ak, 1);
            if (!k) return NULL;
            if (k == 2) {
                c = &ps->re->cl[idx];
                if (cls_set(ps, c, it)) return NULL;
                continue; /* a set is never a range end; a following '-' is literal */
            }
        }
        c = &ps->re->cl[idx];
        uint32_t hi = lo;
        if (!at_end(ps) && peek(ps) == '-' && ps->i + 1 < ps->len && ps->p[ps->i + 1] != ']') {
            next(ps);
            hi = next(ps);
            if (hi == '[') { perr(ps, VX_EUNSUPPORTED, "nested character class"); return NULL; }
            if (hi == '\\') {
                set_item it;
                int ak;
                int k = parse_escape(ps, &hi, &it, &ak, 1);
                if (!k) return NULL;
                if (k == 2) { perr(ps, VX_ECORRUPT, "a class escape cannot end a range"); return NULL; }
            }
            if (hi < lo) { perr(ps, VX_ECORRUPT, "empty range in character class"); return NULL; }
        }
        if (cls_range(ps, c, lo, hi)) return NULL;
    }
    node *n = node_new(ps, N_CLASS);
    if (n) { n->cls = idx; n->ci = ci; }
    return n;
}

static node *set_node(parser *ps, set_item it, int ci) {
    size_t idx;
    cls *c = cls_new(ps, &idx);
    if (!c || cls_set(ps, c, it)) return NULL;
    node *n = node_new(ps, N_CLASS);
    if (n) { n->cls = idx; n->ci = ci; }
    return n;
}

/* Flags after "(?": [i-]* then ':' (a group) or ')' (for the rest of the enclosing group). */
static int parse_flags(parser *ps, int *ci, int *scoped) {
    int on = 1, v = *ci;
    for (;;) {
        if (at_end(ps)) return perr(ps, VX_ECORRUPT, "unterminated (? group");
        uint32_t c = next(ps);
        if (c == '-') { on = 0; continue; }
        if (c == 'i') { v = on; continue; }
        if (c == ':') { *scoped = 1; break; }
        if (c == ')') { *scoped = 0; break; }
        if (c == 'm' || c == 'x' || c == 's' || c == 'a' || c == 'u' || c == 'd' || c == 'l' || c == 'W' ||
            c == 'D' || c == 'S' || c == 'P' || c == 'y')
            return perr(ps, VX_EUNSUPPORTED, "inline option (?%c)", (char)c);
        return perr(ps, VX_EUNSUPPORTED, "group syntax (?%c", c < 0x80 ? (char)c : '?');
    }
    *ci = v;
    return 0;
}

static node *parse_atom(parser *ps, int *ci) {
    uint32_t c = next(ps);
    node *n = NULL;
    switch (c) {
    case '(': {
        if (++ps->depth > DEPTH_MAX) { perr(ps, VX_EUNSUPPORTED, "groups nested deeper than %d", DEPTH_MAX); return NULL; }
        int look = -1, gci = *ci;
        if (!at_end(ps) && peek(ps) == '?') {
            next(ps);
            uint32_t d = at_end(ps) ? 0 : peek(ps);
            if (d == ':') next(ps);
            else if (d == '=' || d == '!') { next(ps); look = d == '!'; }
            else if (d == '<' && ps->i + 1 < ps->len && (ps->p[ps->i + 1] == '=' || ps->p[ps->i + 1] == '!')) {
                perr(ps, VX_EUNSUPPORTED, "lookbehind (?<%c", ps->p[ps->i + 1]);
                return NULL;
            } else if (d == '<' || d == '\'') { /* named group: a plain group here */
                uint32_t close = d == '<' ? '>' : '\'';
                next(ps);
                while (!at_end(ps) && peek(ps) != close) next(ps);
                if (at_end(ps)) { perr(ps, VX_ECORRUPT, "unterminated group name"); return NULL; }
                next(ps);
            } else if (d == '>') { perr(ps, VX_EUNSUPPORTED, "atomic group (?>"); return NULL; }
            else if (d == '#') { perr(ps, VX_EUNSUPPORTED, "comment group (?#"); return NULL; }
            else {
                int scoped = 1;
                if (parse_flags(ps, &gci, &scoped)) return NULL;
                if (!scoped) {
                    /* (?i) applies to the rest of the enclosing group, alternatives
                     * included: Oniguruma reads a(?i)b|c as a(?i:b|c) */
                    *ci = gci;
                    ps->depth--;
                    return parse_alt(ps, gci);
                }
            }
        }
        node *inner = parse_alt(ps, gci);
        if (!inner) return NULL;
        if (at_end(ps) || peek(ps) != ')') { node_free(inner); perr(ps, VX_ECORRUPT, "missing )"); return NULL; }
        next(ps);
        ps->depth--;
        if (look < 0) return inner;
        if (!(n = node_new(ps, N_LOOK))) { node_free(inner); return NULL; }
        n->neg = look;
        if (node_add(ps, n, inner)) { node_free(n); return NULL; }
        return n;
    }
    case '[': return parse_class(ps, *ci);
    case '.': return node_new(ps, N_ANY);
    case '^': if ((n = node_new(ps, N_ASSERT))) n->akind = A_BOL; return n;
    case '$': if ((n = node_new(ps, N_ASSERT))) n->akind = A_EOL; return n;
    case '*': case '+': case '?':
        perr(ps, VX_ECORRUPT, "target of repeat operator is not specified");
        return NULL;
    case '\\': {
        uint32_t cp;
        set_item it;
        int ak;
        int k = parse_escape(ps, &cp, &it, &ak, 0);
        if (!k) return NULL;
        if (k == 2 && it.kind == SET_WORD) it.kind = SET_WORD_ESC; /* \w outside a class */
        if (k == 2) return set_node(ps, it, *ci);
        if (k == 3) { if ((n = node_new(ps, N_ASSERT))) n->akind = ak; return n; }
        c = cp;
        break;
    }
    default: break;
    }
    if ((n = node_new(ps, N_CHAR))) { n->cp = c; n->ci = *ci; }
    return n;
}

/* {n}, {n,}, {n,m}, {,m} at ps->i (after '{'); 0 and position unchanged when it is not
 * an interval (then '{' is a literal, as in Oniguruma). */
static int parse_interval(parser *ps, uint32_t *mn, uint32_t *mx) {
    size_t save = ps->i;
    uint64_t a = 0, b = 0;
    int na = 0, nb = 0, comma = 0;
    while (!at_end(ps) && peek(ps) >= '0' && peek(ps) <= '9') { a = a * 10 + (next(ps) - '0'); if (a > 1000000) a = 1000000; na++; }
    if (!at_end(ps) && peek(ps) == ',') {
        next(ps);
        comma = 1;
        while (!at_end(ps) && peek(ps) >= '0' && peek(ps) <= '9') { b = b * 10 + (next(ps) - '0'); if (b > 1000000) b = 1000000; nb++; }
    }
    if (at_end(ps) || peek(ps) != '}' || (!na && !nb)) { ps->i = save; return 0; }
    next(ps);
    *mn = na ? (uint32_t)a : 0;
    *mx = comma ? (nb ? (uint32_t)b : UINT32_MAX) : (uint32_t)a;
    return 1;
}

static node *parse_repeat(parser *ps, int *ci) {
    node *a = parse_atom(ps, ci);
    while (a && !at_end(ps)) {
        uint32_t c = peek(ps), mn, mx;
        if (c == '*') { next(ps); mn = 0; mx = UINT32_MAX; }
        else if (c == '+') { next(ps); mn = 1; mx = UINT32_MAX; }
        else if (c == '?') { next(ps); mn = 0; mx = 1; }
        else if (c == '{') {
            next(ps);
            if (!parse_interval(ps, &mn, &mx)) { ps->i--; break; }
        } else break;
        if (a->kind == N_ASSERT || a->kind == N_LOOK || a->kind == N_EMPTY) {
            node_free(a);
            perr(ps, VX_EUNSUPPORTED, "a quantifier on an assertion");
            return NULL;
        }
        if (mx != UINT32_MAX && mn > mx) { node_free(a); perr(ps, VX_ECORRUPT, "bad interval {%u,%u}", mn, mx); return NULL; }
        if (mn > REPEAT_MAX || (mx != UINT32_MAX && mx > REPEAT_MAX)) {
            node_free(a);
            perr(ps, VX_EUNSUPPORTED, "a repeat count above %u", REPEAT_MAX);
            return NULL;
        }
        node *r = node_new(ps, N_REP);
        if (!r) { node_free(a); return NULL; }
        r->min = mn; r->max = mx;
        if (node_add(ps, r, a)) { node_free(r); return NULL; }
        a = r;
        if (!at_end(ps) && peek(ps) == '?') { next(ps); r->greedy = 0; }
        else if (!at_end(ps) && peek(ps) == '+' && c != '{') {
            node_free(a);
            perr(ps, VX_EUNSUPPORTED, "possessive quantifier %c+", (char)c);
            return NULL;
        }
    }
    return a;
}

static node *parse_cat(parser *ps, int ci) {
    node *cat = node_new(ps, N_CAT);
    if (!cat) return NULL;
    while (!at_end(ps) && peek(ps) != '|' && peek(ps) != ')') {
        node *k = parse_repeat(ps, &ci);
        if (!k || node_add(ps, cat, k)) { node_free(cat); return NULL; }
    }
    return cat;
}

static node *parse_alt(parser *ps, int ci) {
    node *alt = node_new(ps, N_ALT);
    if (!alt) return NULL;
    for (;;) {
        node *k = parse_cat(ps, ci);
        if (!k || node_add(ps, alt, k)) { node_free(alt); return NULL; }
        if (at_end(ps) || peek(ps) != '|') break;
        next(ps);
    }
    return alt;
}

/* ------------------------------------------------------------------ compiler */

typedef struct comp {
    vx_regex *re;
    node **looks; size_t nlooks; /* lookahead bodies to emit after the current program */
    uint32_t *look_pc; /* [nlooks] the LOOK instruction to patch */
    int rc;
} comp;

static size_t emit(comp *c, inst in) {
    vx_regex *re = c->re;
    if (c->rc) return 0;
    if (re->n >= PROG_MAX) { c->rc = VX_EUNSUPPORTED; return 0; }
    if (re->n == re->cap) {
        size_t cap = re->cap ? re->cap * 2 : 64;
        inst *p = realloc(re->prog, cap * sizeof *p);
        if (!p) { c->rc = VX_ENOMEM; return 0; }
        re->prog = p; re->cap = cap;
    }
    re->prog[re->n] = in;
    return re->n++;
}

static void gen(comp *c, const node *n) {
    if (c->rc) return;
    vx_regex *re = c->re;
    switch (n->kind) {
    case N_CHAR: {
        inst in = { I_CHAR, (uint8_t)n->ci, 0, n->cp, 0, vx_uc_lower(n->cp), vx_uc_upper(n->cp) };
        emit(c, in);
        break;
    }
    case N_CLASS: emit(c, (inst){ I_CLASS, (uint8_t)n->ci, 0, (uint32_t)n->cls, 0, 0, 0 }); break;
    case N_ANY: emit(c, (inst){ I_ANY, 0, 0, 0, 0, 0, 0 }); break;
    case N_ASSERT: emit(c, (inst){ I_ASSERT, 0, 0, (uint32_t)n->akind, 0, 0, 0 }); break;
    case N_EMPTY: break;
    case N_CAT: for (size_t i = 0; i < n->nkid; i++) gen(c, n->kid[i]); break;
    case N_ALT: {
        if (n->nkid == 1) { gen(c, n->kid[0]); break; }
        size_t *jumps = malloc(n->nkid * sizeof *jumps);
        if (!jumps) { c->rc = VX_ENOMEM; return; }
        for (size_t i = 0; i < n->nkid; i++) {
            size_t split = 0;
            if (i + 1 < n->nkid) split = emit(c, (inst){ I_SPLIT, 0, 0, 0, 0, 0, 0 });
            if (c->rc) break;
            if (i + 1 < n->nkid) re->prog[split].a = (uint32_t)re->n;
            gen(c, n->kid[i]);
            if (i + 1 < n->nkid) {
                jumps[i] = emit(c, (inst){ I_JMP, 0, 0, 0, 0, 0, 0 });
                if (c->rc) break;
                re->prog[split].b = (uint32_t)re->n;
            }
        }
        if (!c->rc)
            for (size_t i = 0; i + 1 < n->nkid; i++) re->prog[jumps[i]].a = (uint32_t)re->n;
        free(jumps);
        break;
    }
    case N_REP: {
        const node *k = n->kid[0];
        for (uint32_t i = 0; i < n->min && !c->rc; i++) gen(c, k);
        if (n->max == UINT32_MAX) {
            size_t split = emit(c, (inst){ I_SPLIT, 0, 0, 0, 0, 0, 0 });
            if (c->rc) return;
            size_t body = re->n;
            gen(c, k);
            emit(c, (inst){ I_JMP, 0, 0, (uint32_t)split, 0, 0, 0 });
            if (c->rc) return;
            re->prog[split].a = (uint32_t)(n->greedy ? body : re->n);
            re->prog[split].b = (uint32_t)(n->greedy ? re->n : body);
        } else if (n->max > n->min) {
            uint32_t opt = n->max - n->min;
            size_t *splits = malloc(opt * sizeof *splits);
            if (!splits) { c->rc = VX_ENOMEM; return; }
            uint32_t done = 0;
            for (; done < opt && !c->rc; done++) {
                splits[done] = emit(c, (inst){ I_SPLIT, 0, 0, 0, 0, 0, 0 });
                if (c->rc) break;
                re->prog[splits[done]].a = (uint32_t)re->n; /* body; the exit is patched below */
                gen(c, k);
            }
            if (!c->rc)
                for (uint32_t i = 0; i < done; i++) {
                    uint32_t body = re->prog[splits[i]].a;
                    re->prog[splits[i]].a = n->greedy ? body : (uint32_t)re->n;
                    re->prog[splits[i]].b = n->greedy ? (uint32_t)re->n : body;
                }
            free(splits);
        }
        break;
    }
    case N_LOOK: {
        size_t at = emit(c, (inst){ I_LOOK, 0, (uint8_t)n->neg, 0, (uint32_t)re->nlook++, 0, 0 });
        if (c->rc) return;
        node **l = realloc(c->looks, (c->nlooks + 1) * sizeof *l);
        uint32_t *lp = realloc(c->look_pc, (c->nlooks + 1) * sizeof *lp);
        if (l) c->looks = l;
        if (lp) c->look_pc = lp;
        if (!l || !lp) { c->rc = VX_ENOMEM; return; }
        c->looks[c->nlooks] = n->kid[0];
        c->look_pc[c->nlooks++] = (uint32_t)at;
        break;
    }
    }
}

void vx_regex_free(vx_regex *re) {
    if (!re) return;
    for (size_t i = 0; i < re->ncl; i++) { free(re->cl[i].r); free(re->cl[i].s); }
    free(re->cl);
    free(re->prog);
    free(re);
}

size_t vx_regex_size(const vx_regex *re) { return re->n; }

static int compile_tree(vx_regex *re, node *root) {
    comp c = { re, NULL, 0, NULL, 0 };
    gen(&c, root);
    emit(&c, (inst){ I_MATCH, 0, 0, 0, 0, 0, 0 });
    /* lookahead bodies (and theirs, in turn) follow the main program */
    for (size_t i = 0; i < c.nlooks && !c.rc; i++) {
        re->prog[c.look_pc[i]].a = (uint32_t)re->n;
        gen(&c, c.looks[i]);
        emit(&c, (inst){ I_MATCH, 0, 0, 0, 0, 0, 0 });
    }
    free(c.looks);
    free(c.look_pc);
    return c.rc;
}

int vx_regex_compile(vx_regex **out, const char *p, size_t len, vx_re_flavor flavor, char *why, size_t whylen) {
    *out = NULL;
    if (why && whylen) why[0] = 0;
    vx_regex *re = calloc(1, sizeof *re);
    if (!re) return VX_ENOMEM;
    re->flavor = flavor;
    parser ps = { (const unsigned char *)p, len, 0, re, why, whylen, 0, 0 };
    if (vx_utf8_check(ps.p, len) != len) { vx_regex_free(re); return perr(&ps, VX_ECORRUPT, "pattern is not valid UTF-8"); }
    node *root = parse_alt(&ps, 0);
    if (root && !at_end(&ps)) perr(&ps, VX_ECORRUPT, "unmatched )");
    int rc = ps.rc;
    if (!rc) {
        rc = compile_tree(re, root);
        if (rc == VX_EUNSUPPORTED && why && whylen)
            snprintf(why, whylen, "pattern compiles to more than %u instructions (counted repeats unrolled)", PROG_MAX);
        if (rc == VX_ENOMEM && why && whylen) snprintf(why, whylen, "out of memory");
    }
    node_free(root);
    if (rc) { vx_regex_free(re); return rc; }
    *out = re;
    return 0;
}

int vx_regex_literal(vx_regex **out, const char *s, size_t len) {
    *out = NULL;
    vx_regex *re = calloc(1, sizeof *re);
    if (!re) return VX_ENOMEM;
    comp c = { re, NULL, 0, NULL, 0 };
    for (size_t i = 0; i < len && !c.rc;) {
        uint32_t cp;
        i += vx_utf8_next((const unsigned char *)s + i, len - i, &cp);
        emit(&c, (inst){ I_CHAR, 0, 0, cp, 0, cp, cp });
    }
    emit(&c, (inst){ I_MATCH, 0, 0, 0, 0, 0, 0 });
    if (c.rc) { vx_regex_free(re); return c.rc; }
    *out = re;
    return 0;
}

/* ------------------------------------------------------------------- matcher */

static int set_has(const set_item *it, uint32_t cp, vx_re_flavor fl) {
    int in;
    switch (it->kind) {
    case SET_CAT: in = (vx_uc_cat(cp) & it->mask) != 0; break;
    case SET_SPACE: in = vx_uc_space(cp); break;
    case SET_WORD: in = fl == VX_RE_RUST ? vx_uc_word_rust(cp) : vx_uc_word_onig_class(cp); break;
    case SET_WORD_ESC: in = fl == VX_RE_RUST ? vx_uc_word_rust(cp) : vx_uc_word_onig(cp); break;
    default: in = cp < 0x80 && hexv(cp) >= 0; break;
    }
    return in != it->neg;
}

static int cls_has1(const cls *c, uint32_t cp, vx_re_flavor fl) {
    for (size_t i = 0; i < c->nr; i++)
        if (cp >= c->r[i][0] && cp <= c->r[i][1]) return 1;
    for (size_t i = 0; i < c->ns; i++)
        if (set_has(&c->s[i], cp, fl)) return 1;
    return 0;
}

static int cls_match(const cls *c, uint32_t cp, int ci, vx_re_flavor fl) {
    int in = cls_has1(c, cp, fl);
    if (!in && ci) { /* the other cases, and the lowercase of the uppercase (ſ → S → s) */
        uint32_t lo = vx_uc_lower(cp), up = vx_uc_upper(cp), fold = vx_uc_lower(up);
        in = (lo != cp && cls_has1(c, lo, fl)) || (up != cp && cls_has1(c, up, fl)) ||
             (fold != cp && fold != lo && cls_has1(c, fold, fl));
    }
    return in != c->neg;
}

typedef struct frame { size_t pos; uint32_t pc, finish; } frame;

typedef struct mstate {
    const vx_regex *re;
    const unsigned char *s; size_t n;
    size_t m;                 /* instructions */
    uint8_t *fail, *onpath, *ok; /* bit per (pos, pc): index pos * m + pc */
    uint8_t *look;            /* [nlook][n+1] 0 unknown, 1 false, 2 true */
    frame *st; size_t sn, scap;
    uint64_t steps;
    int rc;
} mstate;

static inline int bit(const uint8_t *b, size_t i) { return b[i >> 3] >> (i & 7) & 1; }
static inline void bset(uint8_t *b, size_t i) { b[i >> 3] |= (uint8_t)(1u << (i & 7)); }
static inline void bclr(uint8_t *b, size_t i) { b[i >> 3] &= (uint8_t)~(1u << (i & 7)); }

static int spush(mstate *ms, uint32_t pc, size_t pos, uint32_t finish) {
    if (ms->sn == ms->scap) {
        size_t cap = ms->scap ? ms->scap * 2 : 256;
        frame *f = realloc(ms->st, cap * sizeof *f);
        if (!f) { ms->rc = VX_ENOMEM; return -1; }
        ms->st = f; ms->scap = cap;
    }
    ms->st[ms->sn++] = (frame){ pos, pc, finish };
    return 0;
}

static int is_word_at(const mstate *ms, size_t pos, int before) {
    if (before) {
        if (pos == 0) return 0;
        size_t b = pos - 1;
        while (b > 0 && (ms->s[b] & 0xC0) == 0x80) b--;
        uint32_t cp;
        vx_utf8_next(ms->s + b, ms->n - b, &cp);
        return ms->re->flavor == VX_RE_RUST ? vx_uc_word_rust(cp) : vx_uc_word_onig(cp);
    }
    if (pos >= ms->n) return 0;
    uint32_t cp;
    vx_utf8_next(ms->s + pos, ms->n - pos, &cp);
    return ms->re->flavor == VX_RE_RUST ? vx_uc_word_rust(cp) : vx_uc_word_onig(cp);
}

static int assert_ok(const mstate *ms, uint32_t kind, size_t pos) {
    const unsigned char *s = ms->s;
    size_t n = ms->n;
    switch (kind) {
    case A_BOL: return pos == 0 || s[pos - 1] == '\n';
    case A_EOL: return pos == n || s[pos] == '\n';
    case A_BOT: return pos == 0;
    case A_EOT: return pos == n;
    case A_EOTNL: return pos == n || (pos + 1 == n && s[pos] == '\n');
    case A_WORDB: return is_word_at(ms, pos, 1) != is_word_at(ms, pos, 0);
    default: return is_word_at(ms, pos, 1) == is_word_at(ms, pos, 0);
    }
}

/* Depth-first search from (pc0, pos0). Returns the end of the first match in priority
 * order, or -1 (also on error, with ms->rc set). `look`: a lookahead body, whose
 * succeeded states are remembered. */
static long long run(mstate *ms, uint32_t pc0, size_t pos0, int look) {
    const inst *prog = ms->re->prog;
    const size_t m = ms->m, base = ms->sn;
    long long result = -1;
    if (spush(ms, pc0, pos0, 0)) return -1;
    while (ms->sn > base) {
        frame f = ms->st[--ms->sn];
        size_t id = f.pos * m + f.pc;
        if (f.finish) { bset(ms->fail, id); bclr(ms->onpath, id); continue; }
        if (bit(ms->fail, id) || bit(ms->onpath, id)) continue;
        if (look && bit(ms->ok, id)) { result = (long long)f.pos; break; } /* known to reach MATCH */
        ms->steps++;
        const inst *in = &prog[f.pc];
        if (in->op == I_MATCH) {
            if (look) bset(ms->ok, id);
            result = (long long)f.pos;
            break;
        }
        bset(ms->onpath, id);
        if (spush(ms, f.pc, f.pos, 1)) return -1;
        switch (in->op) {
        case I_CHAR: case I_CLASS: case I_ANY: {
            if (f.pos >= ms->n) break;
            uint32_t cp;
            size_t l = vx_utf8_next(ms->s + f.pos, ms->n - f.pos, &cp);
            int hit;
            if (in->op == I_CHAR) hit = cp == in->a || (in->ci && (vx_uc_lower(cp) == in->lo || vx_uc_upper(cp) == in->up));
            else if (in->op == I_CLASS) hit = cls_match(&ms->re->cl[in->a], cp, in->ci, ms->re->flavor);
            else hit = cp != '\n';
            if (hit && spush(ms, f.pc + 1, f.pos + l, 0)) return -1;
            break;
        }
        case I_SPLIT:
            if (spush(ms, in->b, f.pos, 0) || spush(ms, in->a, f.pos, 0)) return -1;
            break;
        case I_JMP:
            if (spush(ms, in->a, f.pos, 0)) return -1;
            break;
        case I_ASSERT:
            if (assert_ok(ms, in->a, f.pos) && spush(ms, f.pc + 1, f.pos, 0)) return -1;
            break;
        case I_LOOK: {
            uint8_t *memo = &ms->look[(size_t)in->b * (ms->n + 1) + f.pos];
            if (!*memo) {
                long long r = run(ms, in->a, f.pos, 1);
                if (ms->rc) return -1;
                *memo = r >= 0 ? 2 : 1;
            }
            if ((*memo == 2) != in->neg && spush(ms, f.pc + 1, f.pos, 0)) return -1;
            break;
        }
        }
    }
    /* On success the FINISH frames left above `base` are exactly the on-path states:
     * clear them (a lookahead body remembers them as succeeded). */
    while (ms->sn > base) {
        frame g = ms->st[--ms->sn];
        if (!g.finish) continue;
        size_t gid = g.pos * m + g.pc;
        bclr(ms->onpath, gid);
        if (look) bset(ms->ok, gid);
    }
    return result;
}

int vx_regex_find_all(const vx_regex *re, const char *text, size_t n, vx_span **spans, size_t *count, uint64_t *steps) {
    *spans = NULL; *count = 0;
    if (steps) *steps = 0;
    mstate ms = { re, (const unsigned char *)text, n, re->n, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0 };
    uint64_t bits, bytes, lk;
    if (!vx_add_ok(n, 1, &bits) || !vx_mul_ok(bits, ms.m, &bits) || !vx_add_ok(bits, 7, &bytes) ||
        !vx_mul_ok(re->nlook, n + 1, &lk) || bytes / 8 > SIZE_MAX / 4)
        return VX_ENOMEM;
    bytes /= 8;
    vx_span *out = NULL;
    size_t nout = 0, cap = 0;
    ms.fail = calloc(bytes ? bytes : 1, 1);
    ms.onpath = calloc(bytes ? bytes : 1, 1);
    ms.ok = calloc(bytes ? bytes : 1, 1);
    ms.look = calloc(lk ? lk : 1, 1);
    int rc = 0;
    if (!ms.fail || !ms.onpath || !ms.ok || !ms.look) { rc = VX_ENOMEM; goto out; }
    size_t last_end = 0;
    int have_last = 0;
    size_t last_match_end = 0;
    while (last_end <= n) {
        /* unanchored search: the leftmost start that matches */
        long long e = -1;
        size_t s = last_end;
        for (;;) {
            e = run(&ms, 0, s, 0);
            if (ms.rc) { rc = ms.rc; goto out; }
            if (e >= 0 || s >= n) break;
            s++;
            while (s < n && (ms.s[s] & 0xC0) == 0x80) s++;
        }
        if (e < 0) break;
        if ((size_t)e == s && have_last && last_match_end == s) {
            /* an empty match right after the previous match: step one character */
            if (last_end >= n) break;
            uint32_t cp;
            last_end += vx_utf8_next(ms.s + last_end, n - last_end, &cp);
            continue;
        }
        if (nout == cap) {
            size_t nc = cap ? cap * 2 : 16;
            vx_span *o = realloc(out, nc * sizeof *o);
            if (!o) { rc = VX_ENOMEM; goto out; }
            out = o; cap = nc;
        }
        out[nout++] = (vx_span){ s, (size_t)e };
        last_end = (size_t)e;
        last_match_end = (size_t)e;
        have_last = 1;
    }
out:
    free(ms.fail); free(ms.onpath); free(ms.ok); free(ms.look); free(ms.st);
    if (steps) *steps = ms.steps;
    if (rc) { free(out); return rc; }
    *spans = out;
    *count = nout;
    return 0;
}
