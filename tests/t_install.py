#!/usr/bin/python3
"""t_install.py — make install / make uninstall into a temporary DESTDIR.

Installs with PREFIX=/usr/local (and once with PREFIX=/usr and its python3 path), then:
the soname and links are right; a small C program compiled with
`pkg-config --cflags --libs vindex` (PKG_CONFIG_PATH and PKG_CONFIG_SYSROOT_DIR into the
tree) links the installed libvindex.so and answers a query as the CLI does; the installed
binary runs; the installed Python package, imported with PYTHONPATH from the tree, loads
the tree's libvindex.so.0 (not the build tree's) and answers the same query; `man -l`
renders vindex(1) (a section per command `vindex --help` lists, every long option of each
command present, no groff warnings) and vindex(3); then make uninstall leaves nothing —
no file, link or directory — and a second uninstall is harmless.
Honours $BUILD. Prints "N passed, N failed" last.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from vxtest import BDIR, BUILD, FIX, ROOT, VINDEX, asan_runtime, check, finish

C_PROG = r"""
#include <stdio.h>
#include <vx_query.h>
int main(int argc, char **argv) {
    vx_index *vx; vx_query *q; vx_err err = { 0 };
    vx_feat_hit hit[3]; size_t n = 0;
    vx_score_opts o;
    if (vx_open(&vx, argv[1], &err) || vx_query_token(&q, vx, argv[2], 0, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    vx_score_opts_init(&o);
    o.top = 3;
    if (vx_score(hit, &n, vx, (const vx_query *const *)&q, 1, &o, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    printf("%s", VX_VERSION_STRING);
    for (size_t i = 0; i < n; i++) printf(" %u:%u:%s:%.9g", hit[i].layer, hit[i].feature, vx_kind_name(hit[i].kind),
                                          hit[i].cosine);
    printf("\n");
    vx_query_free(q);
    vx_close(vx);
    return 0;
}
"""

PY_PROG = r"""
import sys, vindex
with vindex.open(sys.argv[1]) as vx:
    r = vx.score(sys.argv[2], top=3)
print(vindex.library_path)
print(vindex.__file__)
print(" ".join("%d:%d:%s:%.9g" % (h.layer, h.feature, h.kind, h.cosine) for h in r.results))
"""


def make(*args, env=None):
    p = subprocess.run(["make", "-s", f"BUILD={BUILD}", *args], cwd=ROOT, capture_output=True, text=True, env=env)
    return p.returncode, p.stdout + p.stderr


def tree(d):
    out = []
    for root, dirs, files in os.walk(d):
        for x in dirs + files:
            out.append(os.path.relpath(os.path.join(root, x), d))
    return sorted(out)


def pyver():
    return "%d.%d" % sys.version_info[:2]


def one(tmp, vx, prefix):
    dest = os.path.join(tmp, "dest" + prefix.replace("/", "_"))
    os.mkdir(dest)
    rc, out = make("install", f"DESTDIR={dest}", f"PREFIX={prefix}")
    if not check(rc == 0, f"make install PREFIX={prefix}: {out[-1500:]}"):
        return
    libdir = prefix + "/lib"
    pydir = prefix + ("/lib/python3/dist-packages" if prefix == "/usr" else f"/lib/python{pyver()}/dist-packages")
    L = lambda p: os.path.join(dest, p.lstrip("/"))  # noqa: E731
    so = L(libdir + "/libvindex.so.0.1.0")
    check(os.path.isfile(so) and not os.path.islink(so), "libvindex.so.0.1.0 is the file")
    check(os.readlink(L(libdir + "/libvindex.so.0")) == "libvindex.so.0.1.0" and
          os.readlink(L(libdir + "/libvindex.so")) == "libvindex.so.0", "soname and development links")
    soname = subprocess.run(["readelf", "-d", so], capture_output=True, text=True).stdout
    check("Library soname: [libvindex.so.0]" in soname, "SONAME libvindex.so.0")
    for f in ("bin/vindex", "lib/libvindex.a", "include/vindex.h", "include/vx_query.h", "include/vx_compare.h",
              "share/man/man1/vindex.1", "share/man/man3/vindex.3", "lib/pkgconfig/vindex.pc"):
        check(os.path.exists(L(prefix + "/" + f)), f"installed {prefix}/{f}")
    check(os.path.isfile(L(pydir + "/vindex/__init__.py")), f"Python package in {pydir}")
    # where Debian's python3 looks
    if prefix == "/usr/local":
        sp = subprocess.run(["/usr/bin/python3", "-c", "import sys; print('\\n'.join(sys.path))"], capture_output=True,
                            text=True).stdout.split()
        check(pydir in sp, f"{pydir} is on Debian's python3 path")
    # the installed binary
    env = dict(os.environ, LD_LIBRARY_PATH=L(libdir))
    env.pop("VINDEX_LIB", None)
    # A sanitizer build (make asan): the C program is built with the sanitizer too (clang
    # links its runtime in, as into the binary); python, built without, preloads it.
    rt = asan_runtime(so)
    sanitize = ["-fsanitize=address,undefined"] if rt else []
    p = subprocess.run([L(prefix + "/bin/vindex"), "--version"], capture_output=True, text=True, env=env)
    check(p.returncode == 0 and p.stdout.strip() == "vindex 0.1.0", f"installed vindex --version: {p.stdout}")
    # C program through pkg-config
    penv = dict(os.environ, PKG_CONFIG_PATH=L(libdir + "/pkgconfig"), PKG_CONFIG_SYSROOT_DIR=dest)
    pc = subprocess.run(["pkg-config", "--cflags", "--libs", "vindex"], capture_output=True, text=True, env=penv)
    check(pc.returncode == 0 and L(prefix + "/include") in pc.stdout and "-lvindex" in pc.stdout,
          f"pkg-config --cflags --libs vindex: {pc.stdout} {pc.stderr}")
    ver = subprocess.run(["pkg-config", "--modversion", "vindex"], capture_output=True, text=True, env=penv)
    check(ver.stdout.strip() == "0.1.0", f"pkg-config --modversion: {ver.stdout}")
    src, exe = os.path.join(tmp, "prog.c"), os.path.join(tmp, "prog" + prefix.replace("/", "_"))
    open(src, "w").write(C_PROG)
    cc = subprocess.run(["clang" if rt else "cc", "-std=c11", *sanitize, src, "-o", exe] + pc.stdout.split(),
                        capture_output=True, text=True)
    if check(cc.returncode == 0, f"cc with pkg-config flags: {cc.stderr[-800:]}"):
        r = subprocess.run([exe, vx, " Paris"], capture_output=True, text=True, env=env)
        ld = subprocess.run(["ldd", exe], capture_output=True, text=True, env=env).stdout
        check(so.replace("libvindex.so.0.1.0", "libvindex.so.0") in ld, f"the program uses the tree's library: {ld}")
        cli = json.loads(subprocess.run([VINDEX, "score", vx, " Paris", "--top", "3", "--json"], capture_output=True,
                                        text=True).stdout)
        want = "0.1.0 " + " ".join("%d:%d:%s:%.9g" % (h["layer"], h["feature"], h["kind"], h["cosine"])
                                   for h in cli["results"])
        check(r.returncode == 0 and r.stdout.strip() == want, f"C program: {r.stdout.strip()!r} != {want!r} {r.stderr}")
        cpy = want[len("0.1.0 "):]
    # the Python package from the tree
    penv = dict(env, PYTHONPATH=L(pydir))
    if rt:
        penv.update(LD_PRELOAD=rt, ASAN_OPTIONS="detect_leaks=0")
    p = subprocess.run(["/usr/bin/python3", "-c", PY_PROG, vx, " Paris"], capture_output=True, text=True, env=penv,
                       cwd=tmp)
    lines = p.stdout.split("\n")
    check(p.returncode == 0 and len(lines) >= 3 and os.path.realpath(lines[0]) == os.path.realpath(so)
          and lines[1].startswith(L(pydir)), f"installed package loads the installed library: {p.stdout} {p.stderr}")
    check(p.returncode == 0 and lines[2] == cpy, f"installed package answers as the CLI: {lines[2:3]}")
    # man pages
    menv = dict(os.environ, MANWIDTH="100", LC_ALL="C.UTF-8")
    m = subprocess.run(["man", "--warnings", "-l", "-P", "cat", L(prefix + "/share/man/man1/vindex.1")],
                       capture_output=True, text=True, env=menv)
    check(m.returncode == 0 and not m.stderr.strip(), f"man -l vindex.1: exit {m.returncode}, {m.stderr[:500]}")
    page = m.stdout
    cmds = [l.split()[0] for l in subprocess.run([VINDEX, "--help"], capture_output=True, text=True).stdout
            .split("commands:")[1].split("\n\n")[0].strip().splitlines()]
    check(len(cmds) >= 7, f"commands listed by vindex --help: {cmds}")
    for c in cmds:
        body = page.split(f"   vindex {c}\n", 1)
        if not check(len(body) == 2, f"vindex(1) has a section for {c}"):
            continue
        section = re.split(r"\n   vindex \w+\n|\nEXIT STATUS\n", body[1])[0]
        opts = set(re.findall(r"--[a-z][a-z-]*", subprocess.run([VINDEX, c, "--help"], capture_output=True,
                                                                 text=True).stdout))
        missing = [o for o in opts if o not in section]
        check(not missing, f"vindex(1) {c}: options missing from its section: {missing}")
    m3 = subprocess.run(["man", "--warnings", "-l", "-P", "cat", L(prefix + "/share/man/man3/vindex.3")],
                        capture_output=True, text=True, env=menv)
    check(m3.returncode == 0 and not m3.stderr.strip() and "vx_open" in m3.stdout and "vx_compare" in m3.stdout,
          f"man -l vindex.3: {m3.stderr[:300]}")
    # uninstall: nothing left
    rc, out = make("uninstall", f"DESTDIR={dest}", f"PREFIX={prefix}")
    left = tree(dest)
    check(rc == 0 and left == [], f"make uninstall leaves nothing: {left[:10]} {out[-500:]}")
    rc, out = make("uninstall", f"DESTDIR={dest}", f"PREFIX={prefix}")
    check(rc == 0 and "nothing installed" in out, f"a second uninstall is harmless: {out[-300:]}")


def preexisting(tmp):
    """Directories that existed before install are kept by uninstall; a reinstall keeps
    the record of the directories the first install created."""
    dest = os.path.join(tmp, "dest-pre")
    os.makedirs(os.path.join(dest, "opt/vx/share/man/man1"))
    open(os.path.join(dest, "opt/vx/share/man/man1/other.1"), "w").write(".TH OTHER 1\n")
    rc1, _ = make("install", f"DESTDIR={dest}", "PREFIX=/opt/vx")
    rc2, _ = make("install", f"DESTDIR={dest}", "PREFIX=/opt/vx")
    rc3, out = make("uninstall", f"DESTDIR={dest}", "PREFIX=/opt/vx")
    check(rc1 == rc2 == rc3 == 0 and tree(dest) == ["opt", "opt/vx", "opt/vx/share", "opt/vx/share/man",
                                                    "opt/vx/share/man/man1", "opt/vx/share/man/man1/other.1"],
          f"install twice, uninstall: only what was there before remains: {tree(dest)}")


def main():
    tmp = tempfile.mkdtemp(prefix="vx-install-")
    try:
        vx = os.path.join(tmp, "tiny.vx")
        p = subprocess.run([VINDEX, "extract", os.path.join(FIX, "tiny-llama"), "-o", vx, "--features", "16"],
                           capture_output=True, text=True)
        if check(p.returncode == 0, f"extract: {p.stderr}"):
            one(tmp, vx, "/usr/local")
            one(tmp, vx, "/usr")
            preexisting(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
