/*
 * hfcache.c — the Hugging Face cache's layout (see hfcache.h), read offline. The ref file
 * and the revision are untrusted text: both are checked to be a plain snapshot name before
 * they become part of a path.
 */
#include "hfcache.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int vx_hf_is_repo_id(const char *s) {
    const char *sl = strchr(s, '/');
    if (!sl || sl == s || !sl[1] || strchr(sl + 1, '/')) return 0;
    if (!strncmp(s, "./", 2) || !strncmp(s, "../", 3) || !strcmp(sl + 1, ".") || !strcmp(sl + 1, "..")) return 0;
    for (const char *p = s; *p; p++)
        if (!(*p == '/' || *p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z')))
            return 0;
    return 1;
}

/* A snapshot (commit) name: one path component of printable characters. */
static int plain_name(const char *r) {
    if (!*r || !strcmp(r, ".") || !strcmp(r, "..") || strchr(r, '/') || strchr(r, '\\')) return 0;
    for (const char *p = r; *p; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p == 0x7f) return 0;
    return 1;
}

/* A ref may hold '/' (refs/pr/1 lives at refs/pr/1), never "..". */
static int safe_ref(const char *r) {
    if (!*r || r[0] == '/' || strstr(r, "..") || strchr(r, '\\')) return 0;
    for (const char *p = r; *p; p++)
        if ((unsigned char)*p < 0x21) return 0;
    return 1;
}

int vx_hf_resolve(char **snapshot, char **repo_dir, char **commit, const char *repo_id, const char *revision,
                  vx_err *err) {
    *snapshot = *repo_dir = *commit = NULL;
    if (!vx_hf_is_repo_id(repo_id))
        return vx_fail(err, VX_ENOTFOUND, "%s: not a Hub repo id of the form org/name", repo_id);
    const char *hub = getenv("HF_HUB_CACHE"), *home = getenv("HF_HOME"), *uhome = getenv("HOME"), *how;
    char *root;
    if (hub && *hub) root = strdup(hub), how = "$HF_HUB_CACHE";
    else if (home && *home) root = pathf("%s/hub", home), how = "$HF_HOME/hub";
    else if (uhome && *uhome) root = pathf("%s/.cache/huggingface/hub", uhome), how = "~/.cache/huggingface/hub";
    else return vx_fail(err, VX_ENOTFOUND, "%s: no Hugging Face cache ($HF_HUB_CACHE, $HF_HOME, $HOME unset)", repo_id);
    const char *rev = revision && *revision ? revision : "main";
    if (!safe_ref(rev)) {
        free(root);
        return vx_fail(err, VX_EUSAGE, "%s: revision '%.100s' is not a valid ref or snapshot name", repo_id, rev);
    }
    int slash = (int)(strchr(repo_id, '/') - repo_id);
    char *repo = root ? pathf("%s/models--%.*s--%s", root, slash, repo_id, repo_id + slash + 1) : NULL;
    char *ref = repo ? pathf("%s/refs/%s", repo, rev) : NULL, *snap = NULL, *hash = NULL, *buf = NULL;
    int rc = VX_OK;
    size_t blen;
    if (!ref) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
    if (!is_dir(repo)) {
        rc = vx_fail(err, VX_ENOTFOUND, "%s: not in the Hugging Face cache (%s): no directory %s", repo_id, how, repo);
        goto out;
    }
    if (vx_read_file(&buf, &blen, ref, 4096, NULL) == VX_OK) {
        size_t a = 0, b = blen;
        while (a < b && strchr(" \t\r\n", buf[a])) a++;
        while (b > a && strchr(" \t\r\n", buf[b - 1])) b--;
        buf[b] = 0;
        if (!plain_name(buf + a)) {
            rc = vx_fail(err, VX_ECORRUPT, "%s: holds '%.80s', expected a snapshot (commit) name", ref, buf + a);
            goto out;
        }
        hash = strdup(buf + a);
    } else if (plain_name(rev)) hash = strdup(rev);
    else {
        rc = vx_fail(err, VX_ENOTFOUND, "%s: revision '%s' is not in the cache: no %s", repo_id, rev, ref);
        goto out;
    }
    if (!hash || !(snap = pathf("%s/snapshots/%s", repo, hash))) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
    if (!is_dir(snap)) {
        rc = vx_fail(err, VX_ENOTFOUND, "%s: revision '%s' (snapshot %s) is not in the cache: searched %s and %s", repo_id,
                     rev, hash, ref, snap);
        goto out;
    }
    *snapshot = snap;
    *repo_dir = repo;
    *commit = hash;
    snap = repo = hash = NULL;
out:
    free(buf);
    free(root);
    free(repo);
    free(ref);
    free(snap);
    free(hash);
    return rc;
}
