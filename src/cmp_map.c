/*
 * cmp_map.c — the fitted map as a file (spec/map-format.md): compare --save-map writes the
 * PCA mean and basis, the anchor means and the rotation with both vindexes' identities;
 * vx_map_* load it (format/mapfile.c checks the bytes, here rule M8 checks the numbers)
 * and carry points and directions between the two spaces (§4 of that spec).
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmp.h"
#include "linalg.h"
#include "mapfile.h"

struct vx_saved_map {
    vx_mapfile f;
    vx_map_info info;
};

/* ------------------------------------------------------------------ saving */
int cmp_save_map(ctx *c, const vx_compare_opts *o, const cmp_fit *fit) {
    vx_mapfile m;
    memset(&m, 0, sizeof m);
    const side *sd[2] = { &c->A, &c->B };
    int rc = VX_OK;
    for (int k = 0; k < 2; k++) {
        const char *dir = vx_get_info(sd[k]->vx)->path;
        if ((rc = vx_content_digest(m.digest[k], dir, c->err))) {
            rc = vx_fail(c->err, rc, "--save-map: the content digest of %s: %s", dir, c->err->msg);
            goto out;
        }
        if (!(m.path[k] = realpath(dir, NULL))) { rc = vx_fail(c->err, VX_EIO, "--save-map: %s: cannot resolve the path", dir); goto out; }
    }
    m.source = c->S == &c->A ? 0 : 1;
    m.hs = (uint32_t)c->HS;
    m.d = (uint32_t)c->d;
    size_t d = c->d, HS = c->HS;
    if (c->Wf) { /* the projection used the f32 mean and basis: save exactly those */
        if (!(m.mu0 = malloc(sizeof(double) * HS)) || !(m.W = malloc(sizeof(float) * d * HS))) { rc = vx_fail(c->err, VX_ENOMEM, "--save-map: out of memory"); goto out; }
        for (size_t h = 0; h < HS; h++) m.mu0[h] = (double)c->mu0f[h];
        memcpy(m.W, c->Wf, sizeof(float) * d * HS);
    }
    if (!(m.muz = malloc(sizeof(double) * d)) || !(m.muy = malloc(sizeof(double) * d)) || !(m.R = malloc(sizeof(double) * d * d))) {
        rc = vx_fail(c->err, VX_ENOMEM, "--save-map: out of memory");
        goto out;
    }
    memcpy(m.muz, fit->muz, sizeof(double) * d);
    memcpy(m.muy, fit->muy, sizeof(double) * d);
    memcpy(m.R, fit->R, sizeof(double) * d * d);
    uint8_t *buf = NULL;
    size_t len = 0;
    if ((rc = vx_mapfile_encode(&buf, &len, &m, c->err))) goto out;
    rc = vx_write_file_atomic(o->save_map, buf, len, c->err);
    free(buf);
out:
    vx_mapfile_clear(&m);
    return rc;
}

/* ------------------------------------------------------------------ loading */
static uint32_t width(const vx_saved_map *m, int sd) { return sd == (int)m->f.source ? m->f.hs : m->f.d; }

int vx_map_open(vx_saved_map **out, const char *path, vx_err *err) {
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc = vx_read_file(&buf, &len, path, (size_t)1 << 36, err);
    if (rc) return rc;
    vx_saved_map *m = calloc(1, sizeof *m);
    double *G = NULL;
    if (!m) { free(buf); return vx_fail(err, VX_ENOMEM, "%s: out of memory", path); }
    rc = vx_mapfile_parse(&m->f, (const uint8_t *)buf, len, path, err);
    free(buf);
    if (rc) goto fail;
    /* M8: R orthogonal, basis rows unit */
    size_t d = m->f.d, hs = m->f.hs;
    if (!(G = malloc(sizeof(double) * d * d))) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", path); goto fail; }
    if ((rc = vx_dgemm(1, 0, d, d, d, m->f.R, m->f.R, G))) { rc = vx_fail(err, rc, "%s: checking R failed", path); goto fail; }
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++)
            if (fabs(G[i * d + j] - (i == j)) > 1e-6) {
                rc = vx_fail(err, VX_ECORRUPT, "%s: R is not orthogonal: (RᵀR)[%zu][%zu] = %.9g (M8)", path, i, j, G[i * d + j]);
                goto fail;
            }
    if (m->f.W)
        for (size_t i = 0; i < d; i++) {
            double s = 0;
            for (size_t h = 0; h < hs; h++) s += (double)m->f.W[i * hs + h] * m->f.W[i * hs + h];
            if (fabs(s - 1) > 1e-4) { rc = vx_fail(err, VX_ECORRUPT, "%s: basis row %zu has length² %.9g, expected 1 (M8)", path, i, s); goto fail; }
        }
    free(G);
    m->info = (vx_map_info){ m->f.source == 0, m->f.hs, m->f.d, width(m, 0), width(m, 1), m->f.path[0], m->f.path[1],
                             m->f.digest[0], m->f.digest[1] };
    *out = m;
    return VX_OK;
fail:
    free(G);
    vx_map_free(m);
    return rc;
}

void vx_map_free(vx_saved_map *m) {
    if (!m) return;
    vx_mapfile_clear(&m->f);
    free(m);
}

const vx_map_info *vx_map_get_info(const vx_saved_map *m) { return &m->info; }

int vx_map_check(const vx_saved_map *m, int sd, const vx_index *vx, vx_err *err) {
    const vx_info *in = vx_get_info(vx);
    char hex[65];
    if (sd != 0 && sd != 1) return vx_fail(err, VX_EUSAGE, "map sd %d: expected 0 (A) or 1 (B)", sd);
    if (in->hidden_size != width(m, sd))
        return vx_fail(err, VX_EMISMATCH, "%s: hidden size %u, but the map's %c has %u (M9)", in->path, in->hidden_size, 'A' + sd,
                       width(m, sd));
    int rc = vx_content_digest(hex, in->path, err);
    if (rc) return rc;
    if (strcmp(hex, m->f.digest[sd]))
        return vx_fail(err, VX_EMISMATCH, "%s: content digest %s, but the map was fitted on %c = %s (digest %s) (M9)", in->path, hex,
                       'A' + sd, m->f.path[sd], m->f.digest[sd]);
    return VX_OK;
}

/* ------------------------------------------------------------------ carrying */
int vx_map_apply(float *out, size_t n_out, const vx_saved_map *m, int to, int point, const float *v, size_t n, vx_err *err) {
    if (to != 0 && to != 1) return vx_fail(err, VX_EUSAGE, "map: target side %d: expected 0 (A) or 1 (B)", to);
    int from = 1 - to;
    if (n != width(m, from) || n_out != width(m, to))
        return vx_fail(err, VX_EUSAGE, "map: a vector of %zu values into %zu: %c has width %u and %c %u", n, n_out, 'A' + from,
                       width(m, from), 'A' + to, width(m, to));
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return vx_fail(err, VX_EUSAGE, "map: value %zu of the vector is not finite", i);
    const vx_mapfile *f = &m->f;
    size_t d = f->d, hs = f->hs;
    double *z = calloc(d, sizeof(double)), *t = calloc(hs, sizeof(double));
    if (!z || !t) { free(z); free(t); return vx_fail(err, VX_ENOMEM, "map: out of memory"); }
    if (from == (int)f->source) { /* source → target: z = W(x − μ0) − μz, out = z R + μy */
        for (size_t h = 0; h < hs; h++) t[h] = (double)v[h] - (point && f->mu0 ? f->mu0[h] : 0.0);
        for (size_t i = 0; i < d; i++) {
            double s = 0;
            if (f->W)
                for (size_t h = 0; h < hs; h++) s += (double)f->W[i * hs + h] * t[h];
            else s = t[i];
            z[i] = s - (point ? f->muz[i] : 0.0);
        }
        for (size_t j = 0; j < d; j++) {
            double s = point ? f->muy[j] : 0.0;
            for (size_t i = 0; i < d; i++) s += z[i] * f->R[i * d + j];
            out[j] = (float)s;
        }
    } else { /* target → source: z = (y − μy) Rᵀ + μz, out = z W + μ0 */
        for (size_t i = 0; i < d; i++) {
            double s = point ? f->muz[i] : 0.0;
            for (size_t j = 0; j < d; j++) s += ((double)v[j] - (point ? f->muy[j] : 0.0)) * f->R[i * d + j];
            z[i] = s;
        }
        for (size_t h = 0; h < hs; h++) t[h] = point && f->mu0 ? f->mu0[h] : 0.0;
        if (f->W) {
            for (size_t i = 0; i < d; i++)
                for (size_t h = 0; h < hs; h++) t[h] += z[i] * (double)f->W[i * hs + h];
        } else
            for (size_t i = 0; i < d; i++) t[i] += z[i];
        for (size_t h = 0; h < hs; h++) out[h] = (float)t[h];
    }
    free(z);
    free(t);
    return VX_OK;
}

int vx_map_write_vector(const char *path, const float *v, size_t n, vx_err *err) {
    uint8_t *b = malloc(4 * (n ? n : 1));
    if (!b) return vx_fail(err, VX_ENOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, v + i, 4);
        vx_put32(b + 4 * i, u);
    }
    int rc = vx_write_file_atomic(path, b, 4 * n, err);
    free(b);
    return rc;
}
