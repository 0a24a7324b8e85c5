#!/usr/bin/python3
"""`vindex report` end to end (spec/report.md): usage errors (exit 2) and failures (exit 1)
leave no file behind and never touch an existing one; the page is self-contained (no
script, no external reference) and byte-identical across runs; and in a real browser
(headless Chromium over the DevTools pipe, tests/cdp.py) the reports of tiny-llama, of the
tiny-llama vs tiny-qwen3 pair and of a vindex whose tokens are hostile markup load with no
console error, no exception and no request but the page itself, every expected plot is
present and drawn (an SVG of non-zero size with visible marks), each unavailable one says
why, the hostile tokens stay text, and light and dark screenshots are kept in
$BUILD/artifacts/ (report-*.png) for a person to look at. Honours $BUILD.
Prints "N passed, N failed"."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
import numpy as np
from vxtest import BDIR, FIX, ROOT, VINDEX, check, finish

sys.path.insert(0, os.path.join(ROOT, "tools"))
import bench_compare_ref as ref  # noqa: E402  (float64 numpy reference of compare)

ART = os.path.join(BDIR, "artifacts")

HOSTILE = ["<script>window.__pwned=1</script>", "\"><img src=x onerror=\"window.__pwned=2\">", "&amp;&lt;",
           "]]><!--", "\u202eevil", "\u0100\u0001\u007f", "'onmouseover='window.__pwned=3",
           "</title><svg onload=\"window.__pwned=4\">"]


def run(*args):
    return subprocess.run([VINDEX, *args], capture_output=True, text=True)


def extract(src, out):
    r = run("extract", src, "-o", out, "--force")
    if r.returncode:
        raise SystemExit("extract %s failed: %s" % (src, r.stderr))
    return out


def hostile_checkpoint(tmp):
    """tiny-llama with every token from id 100 on (digits kept) renamed to markup."""
    d = os.path.join(tmp, "hostile-ckpt")
    shutil.copytree(os.path.join(FIX, "tiny-llama"), d)
    p = os.path.join(d, "tokenizer.json")
    t = json.load(open(p, encoding="utf-8"))
    inv = {i: s for s, i in t["model"]["vocab"].items()}
    vocab = {}
    for i, s in sorted(inv.items()):
        if i >= 100 and not (len(s) == 1 and s.isdigit()):
            s = HOSTILE[i % len(HOSTILE)] + str(i)
        vocab[s] = i
    t["model"]["vocab"] = vocab
    t["model"]["merges"] = []
    json.dump(t, open(p, "w", encoding="utf-8"))
    return d


def cli_checks(tmp, vx):
    out = os.path.join(tmp, "r.html")
    r = run("report", "--help")
    check(r.returncode == 0 and "usage: vindex report" in r.stdout, "--help")
    usage = [[], ["-o", out], [vx], [vx, vx, vx, "-o", out], [vx, "-o", ""], [vx, "-o", out, "--sample", "1"],
             [vx, "-o", out, "--sample", "x"], [vx, "-o", out, "--seed", "-1"], [vx, "-o", out, "--bogus"],
             [vx, "-o", out, "--threads", "0"], [vx, "-o"]]
    for a in usage:
        r = run("report", *a)
        check(r.returncode == 2 and "vindex report" in r.stderr, "usage error %r: exit %d %s" % (a, r.returncode, r.stderr))
        check(not os.path.exists(out), "usage error %r wrote a file" % (a,))
    # failures: exit 1, an existing output untouched, no temporary file left
    with open(out, "w") as f:
        f.write("keep")
    r = run("report", os.path.join(tmp, "missing.vx"), "-o", out)
    check(r.returncode == 1 and "missing.vx" in r.stderr, "missing vindex: exit %d %s" % (r.returncode, r.stderr))
    check(open(out).read() == "keep", "a failed report left the existing file alone")
    r = run("report", vx, os.path.join(tmp, "missing.vx"), "-o", out)
    check(r.returncode == 1 and open(out).read() == "keep", "missing second vindex: exit %d" % r.returncode)
    r = run("report", vx, "-o", os.path.join(tmp, "no", "such", "r.html"))
    check(r.returncode == 1 and "no/such/r.html" in r.stderr, "unwritable output: exit %d %s" % (r.returncode, r.stderr))
    # success replaces the file whole; nothing else is left in the directory
    r = run("report", vx, "-o", out)
    check(r.returncode == 0 and r.stdout == "" and open(out).read().startswith("<!DOCTYPE html>"),
          "report replaces the file: exit %d %s" % (r.returncode, r.stderr))
    left = [n for n in os.listdir(tmp) if ".tmp." in n]
    check(not left, "temporary files left: %r" % left)
    first = open(out, "rb").read()
    r = run("report", vx, "-o", out)
    check(r.returncode == 0 and open(out, "rb").read() == first, "the same vindex gives the same bytes")
    r = run("report", vx, "-o", out, "--seed", "7")
    check(r.returncode == 0 and open(out, "rb").read() != first, "another seed draws another sample")


class Markup(HTMLParser):
    """Every start tag with its attributes, and the text of <style> elements."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.style, self._in_style = [], "", False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        self._in_style = tag == "style"

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style += data


def self_contained(html, name):
    """Nothing that could load or run: no such element, no reference outside the page."""
    m = Markup()
    m.feed(html)
    tags = {t for t, _ in m.tags}
    bad = tags & {"script", "link", "img", "iframe", "object", "embed", "base", "image", "use", "foreignobject",
                  "audio", "video", "source", "form", "frame"}
    check(not bad, name + ": no loading element: %r" % sorted(bad))
    refs = [(t, k, v) for t, attrs in m.tags for k, v in attrs
            if (k in ("src", "href", "xlink:href", "srcset", "action", "data", "poster") and not (v or "").startswith("#"))
            or k.startswith("on") or "url(" in (v or "").replace("url(#", "")]
    check(not refs, name + ": attributes referring outside the page or running code: %r" % refs[:4])
    check(not re.search(r"url\((?!#)|@import", m.style), name + ": no URL in the style sheet")
    check("Content-Security-Policy" in html and "default-src 'none'" in html, name + ": CSP forbids loads")


# ------------------------------------------------ the numbers drawn, against float64 numpy

M64 = (1 << 64) - 1


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def sample(n, k, seed, stream):
    """spec/compare.md §3's splitmix64 stream and partial Fisher-Yates (spec/report.md §2)."""
    x = mix64((seed + stream) & M64)
    ids = list(range(n))
    for i in range(min(k, n)):
        lim = ((1 << 64) - (n - i)) % (n - i)
        while True:
            x = (x + 0x9E3779B97F4A7C15) & M64
            r = mix64(x)
            if r >= lim:
                break
        j = i + r % (n - i)
        ids[i], ids[j] = ids[j], ids[i]
    return ids[:k]


def embeddings(vx):
    idx = json.load(open(os.path.join(vx, "index.json")))
    e = np.fromfile(os.path.join(vx, "embeddings.bin"), dtype=np.float16).reshape(idx["vocab_size"], idx["hidden_size"])
    return e.astype(np.float64) * idx.get("embed_scale", 1.0)


def figure(html, fid):
    i = html.find('<figure class="plot" id="%s">' % fid)
    return html[i:html.find("</figure>", i)] if i >= 0 else ""


def bins_drawn(fig):
    return [(float(a), float(b), float(c)) for a, b, c in re.findall(r"<title>\[([-\d.e+]+), ([-\d.e+]+)\): ([\d.e+]+)", fig)]


def check_hist(fig, values, bins, share, name):
    counts, edges = np.histogram(values, bins=bins, range=(values.min(), values.max()))
    want = counts * (100.0 / len(values) if share else 1.0)
    got = bins_drawn(fig)
    drawn = {round(a, 3): c for a, b, c in got}
    tol = (2 * 100.0 / len(values) if share else 2) + 1e-3 * want.max()  # a value on a bin edge may move by one
    bad = [(float(edges[j]), float(want[j]), drawn.get(round(float("%.4g" % edges[j]), 3), 0.0))
           for j in range(bins) if abs(want[j] - drawn.get(round(float("%.4g" % edges[j]), 3), 0.0)) > tol]
    check(got and len(got) == int((want > 0).sum()) and not bad,
          "%s: %d bars for %d non-empty bins, mismatches %r" % (name, len(got), int((want > 0).sum()), bad[:4]))


def numbers_checks(html, vx, seed=42, pca_n=1500, cos_n=1000):
    E = embeddings(vx)
    V, H = E.shape
    check_hist(figure(html, "a-norms"), np.linalg.norm(E, axis=1), 60, False, "norm histogram")
    ids = sample(V, min(cos_n, V), seed, 0)
    U = E[ids] / np.linalg.norm(E[ids], axis=1, keepdims=True)
    C = U @ U.T
    check_hist(figure(html, "a-pair-cos"), C[np.triu_indices(len(ids), 1)], 80, True, "pairwise cosine histogram")
    # digits: every cell against numpy
    fig = figure(html, "a-digits")
    cells = {(int(a), int(b)): float(v) for a, b, v in re.findall(r"<title>(\d) × (\d): ([-\d.]+)</title>", fig)}
    tok = json.load(open(os.path.join(vx, "tokenizer.json"), encoding="utf-8"))["model"]["vocab"]
    dig = [tok[str(d)] for d in range(10)]
    D = E[dig] / np.linalg.norm(E[dig], axis=1, keepdims=True)
    want = D @ D.T
    err = max((abs(cells.get((i, j), 9) - want[i, j]) for i in range(10) for j in range(10)), default=9)
    check(len(cells) == 100 and err < 1.5e-4, "digit heatmap: %d cells, max error %.2g" % (len(cells), err))
    # PCA scatter: the sample, and each point's position an affine image of numpy's components
    fig = figure(html, "a-pca")
    pts = re.findall(r'<circle class="mk" cx="([-\d.]+)" cy="([-\d.]+)"[^>]*><title>#(\d+) ', fig)
    got_ids = [int(t) for _, _, t in pts]
    want_ids = sample(V, min(pca_n, V), seed, 5)
    check(got_ids == want_ids, "PCA scatter sample: %d points, first %r, want %r" % (len(got_ids), got_ids[:4], want_ids[:4]))
    X = E[want_ids] - E[want_ids].mean(axis=0)
    w, Q = np.linalg.eigh(X.T @ X / (len(X) - 1))
    order = np.argsort(w)[::-1]
    for c, (col, sign) in enumerate(((0, 1), (1, -1))):
        q = Q[:, order[c]]
        q = q if q[np.argmax(np.abs(q))] > 0 else -q
        pc = X @ q
        px = np.array([float(p[col]) for p in pts])
        A = np.stack([np.ones_like(pc), pc], axis=1)
        coef, *_ = np.linalg.lstsq(A, px, rcond=None)
        resid = np.abs(A @ coef - px).max()
        check(len(px) == len(pc) and coef[1] * sign > 0 and resid < 0.08,
              "PCA component %d: pixel = %.3g + %.3g pc, max residual %.3g px" % (c + 1, coef[0], coef[1], resid))
        share = re.search(r"PC%d holds ([\d.]+) %%" % (c + 1) if c == 0 else r"PC2 ([\d.]+) %", fig)
        want_share = 100 * w[order[c]] / w.sum()
        check(share and abs(float(share.group(1)) - want_share) < 0.051,
              "PC%d variance share %s %% vs numpy %.3f %%" % (c + 1, share and share.group(1), want_share))


def digit_cells(fig):
    return {(int(a), int(b)): float(v) for a, b, v in re.findall(r"<title>(\d) × (\d): ([-\d.]+)</title>", fig)}


def affine_resid(pix, vals):
    """Largest distance (px) of the drawn coordinates from their best affine image of vals."""
    A = np.stack([np.ones_like(vals), vals], axis=1)
    coef, *_ = np.linalg.lstsq(A, pix, rcond=None)
    return float(np.abs(A @ coef - pix).max()), float(coef[1])


def published_checks(html, a, b, seed=42):
    """The published figures (spec/report.md §4.1) against tools/bench_compare_ref.py's
    float64 numpy computation of the same comparison, asked to keep its per-token arrays."""
    k = {}
    out = ref.compare(a, b, keep=k, map_free_on=False)
    j = json.loads(run("compare", a, b, "--json").stdout)
    check(abs(np.mean(k["test_cos"]) - j["cosine"]["mean"]) < 1e-6,
          "reference's held-out cosines have compare's mean: %.9f vs %.9f" % (np.mean(k["test_cos"]), j["cosine"]["mean"]))
    # per-token cosine histogram: every bar against numpy's histogram of the reference's cosines
    check_hist(figure(html, "p-cos-hist"), np.asarray(k["test_cos"]), 60, True, "held-out cosine histogram")
    # relational scatter: the seeded sample of pairs (stream 6), each value against numpy
    m = k["relational_n"]
    P = m * (m - 1) // 2
    fig = figure(html, "p-relational")
    pts = re.findall(r'<circle class="mk" cx="([-\d.]+)" cy="([-\d.]+)"[^>]*><title>#(\d+) “.*?” · #(\d+) “.*?”: '
                     r'target ([-\d.]+), aligned ([-\d.]+)</title>', fig)
    K = min(2000, P)
    want_q = sorted(sample(P, K, seed, 6)) if K < P else list(range(P))
    iu, ju = np.triu_indices(m, 1)
    tid = [int(t) for t in k["test_id"][:m]]
    want_pairs = [(tid[iu[q]], tid[ju[q]]) for q in want_q]
    got_pairs = [(int(p[2]), int(p[3])) for p in pts]
    check(got_pairs == want_pairs, "relational scatter: %d pairs, the seeded sample of %d of %d: first %r, want %r"
          % (len(got_pairs), K, P, got_pairs[:2], want_pairs[:2]))
    if got_pairs == want_pairs and pts:
        T, Al = np.asarray(k["rel_target"])[want_q], np.asarray(k["rel_aligned"])[want_q]
        gt, ga = np.array([float(p[4]) for p in pts]), np.array([float(p[5]) for p in pts])
        err = max(np.abs(gt - T).max(), np.abs(ga - Al).max())
        rx, _ = affine_resid(np.array([float(p[0]) for p in pts]), T)
        ry, _ = affine_resid(np.array([float(p[1]) for p in pts]), Al)
        check(err < 1e-3 and rx < 0.1 and ry < 0.1,
              "relational scatter vs float64 numpy: max error %.2g, placement residual %.3g / %.3g px" % (err, rx, ry))
    # digits: the two cosine matrices and their difference, every cell
    nd = len(k["digit_target"])
    for fid, want in (("p-digits-target", k["digit_target"]), ("p-digits-aligned", k["digit_aligned"]),
                      ("p-digits-diff", np.asarray(k["digit_aligned"]) - np.asarray(k["digit_target"]))):
        cells = digit_cells(figure(html, fid))
        err = max((abs(cells.get((i, jj), 9) - want[i][jj]) for i in range(nd) for jj in range(nd)), default=9)
        check(len(cells) == nd * nd and err < 2e-4, "%s: %d cells, max error %.2g vs float64 numpy" % (fid, len(cells), err))
    # simplex volumes: every valid simplex, value and position (log axes)
    fig = figure(html, "p-simplices")
    pts = re.findall(r'<circle class="mk" cx="([-\d.]+)" cy="([-\d.]+)"[^>]*><title>simplex (\d+): native ([-\d.e+]+), '
                     r'aligned ([-\d.e+]+)</title>', fig)
    vn, va = np.asarray(k["vol_native"]), np.asarray(k["vol_aligned"])
    ok = np.isfinite(vn) & np.isfinite(va)
    idx = [int(p[2]) for p in pts]
    check(idx == list(np.flatnonzero(ok)), "simplex scatter: %d points for the %d valid simplices" % (len(idx), ok.sum()))
    if idx == list(np.flatnonzero(ok)) and idx:
        gn, ga = np.array([float(p[3]) for p in pts]), np.array([float(p[4]) for p in pts])
        err = max(np.max(np.abs(gn / vn[ok] - 1)), np.max(np.abs(ga / va[ok] - 1)))
        rx, sx = affine_resid(np.array([float(p[0]) for p in pts]), np.log10(vn[ok]))
        ry, sy = affine_resid(np.array([float(p[1]) for p in pts]), np.log10(va[ok]))
        check(err < 1e-3 and rx < 0.1 and ry < 0.1 and sx > 0 and sy < 0,
              "simplex volumes vs float64 numpy: max relative error %.2g, log placement residual %.3g / %.3g px"
              % (err, rx, ry))
    # alignment against token id: every drawn token's cosine over all shared tokens
    fig = figure(html, "p-align-id")
    pts = re.findall(r'<circle class="mk" cx="([-\d.]+)" cy="([-\d.]+)"[^>]*><title>#(\d+) “.*?”: ([-\d.]+)</title>', fig)
    allc = dict(zip((int(t) for t in k["id_a"]), k["all_cos"]))
    N = len(allc)
    ids = [int(p[2]) for p in pts]
    check(len(ids) == min(5000, N) and len(set(ids)) == len(ids) and ids == sorted(ids),
          "alignment by id: %d distinct tokens of %d, in id order" % (len(set(ids)), N))
    if ids and all(t in allc for t in ids):
        want = np.array([allc[t] for t in ids])
        err = float(np.abs(np.array([float(p[3]) for p in pts]) - want).max())
        rx, _ = affine_resid(np.array([float(p[0]) for p in pts]), np.array(ids, dtype=float))
        ry, _ = affine_resid(np.array([float(p[1]) for p in pts]), want)
        check(err < 1e-3 and rx < 0.1 and ry < 0.1,
              "alignment by id vs float64 numpy: max error %.2g, placement %.3g / %.3g px" % (err, rx, ry))
    else:
        check(False, "alignment by id: tokens the reference does not share")
    line = re.search(r'<path class="mk" style="fill:none;stroke:var\(--c1\);stroke-width:2" d="([^"]*)"><title>mean', fig)
    sid = np.array(sorted(allc))
    lo, hi = sid[0], sid[-1] + 1.0
    bins = np.minimum(((sid - lo) / ((hi - lo) / 100)).astype(int), 99)
    means = np.array([np.mean([allc[t] for t in sid[bins == q]]) for q in range(100) if (bins == q).any()])
    ys = np.array([float(v) for v in re.findall(r"[ML][-\d.]+ ([-\d.]+)", line.group(1))]) if line else np.zeros(0)
    if check(len(ys) == len(means), "alignment by id: the mean line has a vertex per non-empty id range (%d, want %d)"
             % (len(ys), len(means))):
        r_, s_ = affine_resid(ys, means)
        check(r_ < 0.1 and s_ < 0, "alignment by id: the mean line follows numpy's bin means (residual %.3g px)" % r_)
    # residual spectrum: the top min(200, d) eigenvalues of r^T r / n, on a log axis
    want = np.asarray(out["residual_eigenvalues"])
    got = np.asarray(j["residual_eigenvalues"])
    check(len(got) == len(want) and np.max(np.abs(got / want - 1)) < 1e-3,
          "residual spectrum vs float64 numpy: %d values, max relative error %.2g" % (len(got), np.max(np.abs(got / want - 1))))
    fig = figure(html, "p-residual")
    d = re.search(r'<path class="mk" d="([^"]*)"', fig)
    ys = np.array([float(v) for v in re.findall(r"[ML][-\d.]+ ([-\d.]+)", d.group(1))]) if d else np.zeros(0)
    if check(len(ys) == len(want), "residual spectrum: %d vertices for %d eigenvalues" % (len(ys), len(want))):
        r_, s_ = affine_resid(ys, np.log10(want))
        check(r_ < 0.1 and s_ < 0, "residual spectrum drawn on a log axis: residual %.3g px" % r_)


def pair_numbers_checks(html, a, b):
    published_checks(html, a, b)
    r = run("compare", a, b, "--json")
    j = json.loads(r.stdout)["layers"]
    for kind in ("gate", "down"):
        fig = figure(html, "p-layers-" + kind)
        cells = {(int(x), int(y)): float(v) for x, y, v in re.findall(r"<title>A(\d+) × B(\d+): ([-\d.]+)</title>", fig)}
        want = j[kind]
        err = max((abs(cells.get((x, y), 9) - want[x][y]) for x in range(len(want)) for y in range(len(want[0]))), default=9)
        check(len(cells) == len(want) * len(want[0]) and err < 1e-4, "%s layer heatmap vs compare --json: %.2g" % (kind, err))


FIGURES_JS = """
[...document.querySelectorAll('figure.plot')].map(f => {
  const svg = f.querySelector('svg.plot');
  const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const marks = svg ? [...svg.querySelectorAll('.mk')] : [];
  const drawn = marks.filter(m => { const b = m.getBBox(); return b.width > 0 || b.height > 0; }).length;
  return {id: f.id, na: f.classList.contains('na'), why: (f.querySelector('p.why') || {}).textContent || '',
          w: r.width, h: r.height, marks: marks.length, drawn: drawn,
          rows: f.querySelectorAll('table tr').length, svgs: f.querySelectorAll('svg').length};
})"""

LUMA_JS = """(() => { const m = getComputedStyle(document.body).backgroundColor.match(/\\d+/g).map(Number);
  return (0.2126*m[0] + 0.7152*m[1] + 0.0722*m[2]) / 255; })()"""


def browser_checks(br, path, name, drawn_ids, table_ids, missing_ids):
    url = "file://" + os.path.abspath(path)
    page = br.open(url)
    errs = page.errors()
    check(not errs, "%s: %d console errors: %s" % (name, len(errs), errs[:5]))
    reqs = page.requests()
    check(reqs == [url], "%s: requests besides the page: %r" % (name, [u for u in reqs if u != url][:5]))
    figs = {f["id"]: f for f in page.eval(FIGURES_JS)}
    for i in drawn_ids:
        f = figs.get(i)
        ok = f and not f["na"] and f["svgs"] == 1 and f["w"] > 300 and f["h"] > 150 and f["marks"] > 0 and f["drawn"] > 0
        check(ok, "%s: plot %s drawn: %r" % (name, i, f))
    for i in table_ids:
        f = figs.get(i)
        check(f and not f["na"] and f["rows"] > 1, "%s: table %s filled: %r" % (name, i, f))
    for i, why in missing_ids.items():
        f = figs.get(i)
        check(f and f["na"] and why in f["why"], "%s: %s says why it is missing (%r): %r" % (name, i, why, f))
    extra = set(figs) - set(drawn_ids) - set(table_ids) - set(missing_ids)
    check(not extra, "%s: figures the test does not know: %r" % (name, sorted(extra)))
    check(page.eval("document.documentElement.scrollWidth <= window.innerWidth"), name + ": no horizontal scrolling at 1280 px")
    os.makedirs(ART, exist_ok=True)
    page.dark(False)
    check(page.eval(LUMA_JS) > 0.8, name + ": light page in a light browser")
    page.screenshot(os.path.join(ART, "report-%s.png" % name))
    page.dark(True)
    check(page.eval(LUMA_JS) < 0.2, name + ": dark page in a dark browser")
    page.screenshot(os.path.join(ART, "report-%s-dark.png" % name))
    # axis text must follow the scheme: tick labels light on the dark page
    tick = page.eval("""(() => { const t = document.querySelector('svg.plot .tk');
        if (!t) return 1; const m = getComputedStyle(t).fill.match(/\\d+/g).map(Number);
        return (0.2126*m[0] + 0.7152*m[1] + 0.0722*m[2]) / 255; })()""")
    check(tick > 0.5, "%s: tick labels readable on the dark page (luma %.2f)" % (name, tick))
    return page


ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "code", "section",
                "div", "figure", "figcaption", "svg", "g", "line", "text", "tspan", "rect", "path", "circle", "clippath",
                "lineargradient", "stop", "table", "tbody", "tr", "th", "td", "dl", "dt", "dd", "span", "nav", "a", "sub",
                "sup"}
ONE_DRAWN = ["a-sigma-gate", "a-sigma-down", "a-sigma1-depth", "a-spread-depth", "a-coherence-depth", "a-eig",
             "a-cumvar", "a-norms", "a-pair-cos", "a-digits", "a-pca"]
ONE_TABLES = ["a-emb-numbers"]
# drawn from the weight battery of a version-2 vindex; a version-1 vindex says what it lacks
BATTERY = {"a-stable-rank": "spectra.bin", "a-pr-depth": "spectra.bin", "a-active-depth": "spectra.bin",
           "a-rank90-depth": "spectra.bin", "a-cond-depth": "spectra.bin", "a-topf-depth": "spectra.bin",
           "a-sparsity-depth": "weight statistics", "a-neurons-depth": "neurons.bin"}
BATTERY_TABLES = {"a-directions": "moments.bin"}


def one_expect(vx):
    """(drawn, tables, missing) figure ids for vindex vx."""
    v2 = json.load(open(os.path.join(vx, "index.json"))).get("version", 1) >= 2
    if v2:
        return ONE_DRAWN + list(BATTERY), ONE_TABLES + list(BATTERY_TABLES), {}
    return ONE_DRAWN, ONE_TABLES, {**BATTERY, **BATTERY_TABLES}
PAIR_DRAWN = ["p-quantiles", "p-frac-above", "p-residual", "p-cos-hist", "p-relational", "p-simplices", "p-align-id",
              "p-digits-target", "p-digits-aligned", "p-digits-diff", "p-layers-gate", "p-layers-down"]
PAIR_TABLES = ["p-summary", "p-best-worst"]


def main():
    tmp = tempfile.mkdtemp(prefix="vx-report-")
    try:
        llama = extract(os.path.join(FIX, "tiny-llama"), os.path.join(tmp, "llama.vx"))
        qwen = extract(os.path.join(FIX, "tiny-qwen3"), os.path.join(tmp, "qwen.vx"))
        hostile = extract(hostile_checkpoint(tmp), os.path.join(tmp, "hostile.vx"))
        cli_checks(tmp, llama)
        one, pair, hos = (os.path.join(tmp, n) for n in ("one.html", "pair.html", "hostile.html"))
        for args, out in (([llama], one), ([llama, qwen], pair), ([hostile], hos)):
            r = run("report", *args, "-o", out)
            check(r.returncode == 0, "report %r: exit %d %s" % (args, r.returncode, r.stderr))
        texts = {n: open(p, encoding="utf-8").read() for n, p in (("one", one), ("pair", pair), ("hostile", hos))}
        for n, t in texts.items():
            self_contained(t, n)
        numbers_checks(texts["one"], llama)
        pair_numbers_checks(texts["pair"], llama, qwen)
        for h in HOSTILE:
            check(h not in texts["hostile"], "hostile token written raw: %r" % h)
        check("&lt;script&gt;window.__pwned=1&lt;/script&gt;" in texts["hostile"], "hostile tokens are shown, escaped")

        from cdp import Browser, find_chromium
        if not find_chromium():
            check(False, "chromium is not installed (make deps)")
            return
        with Browser(width=1280, height=900) as br:
            browser_checks(br, one, "tiny-llama", *one_expect(llama))
            browser_checks(br, pair, "tiny-llama-vs-tiny-qwen3", PAIR_DRAWN, PAIR_TABLES, {})
            page = browser_checks(br, hos, "hostile", *one_expect(hostile))
            check(page.eval("typeof window.__pwned") == "undefined", "hostile tokens ran no code")
            check(page.eval("document.querySelectorAll('script,img,iframe,object,embed,svg svg,title *').length") == 0,
                  "hostile tokens made no element")
            tags = set(page.eval("[...new Set([...document.querySelectorAll('*')].map(e => e.tagName.toLowerCase()))]"))
            check(tags <= ALLOWED_TAGS, "elements the report never writes: %r" % sorted(tags - ALLOWED_TAGS))
            n = page.eval("[...document.querySelectorAll('title')].filter(t => "
                          "t.textContent.includes('<script>window.__pwned=1</script>')).length")
            check(n > 0, "hostile token text reads back exactly in hover titles (%r)" % n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
finish()
