#!/bin/sh
# install.sh install|uninstall — `make install` / `make uninstall`. The Makefile passes the
# directories (PREFIX-based, each overridable) and DESTDIR in the environment.
#
# install writes, under $DESTDIR: the vindex binary, libvindex.so.$VERSION with its soname
# link libvindex.so.$SOVERSION and the development link libvindex.so, libvindex.a, the
# public headers, vindex(1) and vindex(3), vindex.pc, and the Python package. It records
# every file and link it wrote, and every directory it had to create, in
# $DATADIR/install-manifest (itself listed). uninstall removes exactly those, from that
# manifest: files and links, then the directories install created, deepest first, when
# empty (plus the Python package's __pycache__, which importing it writes).
set -eu
: "${BUILD:?}" "${PREFIX:?}" "${BINDIR:?}" "${LIBDIR:?}" "${INCLUDEDIR:?}" "${MANDIR:?}" "${PKGCONFIGDIR:?}"
: "${PYTHONDIR:?}" "${DATADIR:?}" "${VERSION:?}" "${SOVERSION:?}" "${LIBS_PRIVATE?}"
D=${DESTDIR:-}
MANIFEST=$DATADIR/install-manifest
STAGE=$(mktemp)
trap 'rm -f "$STAGE" "$STAGE.pc" "$STAGE.py"' EXIT

# mkdirs DIR: create DIR and missing parents, recording the ones created ("d PATH").
mkdirs() {
    missing=""
    p=$1
    while [ ! -d "$D$p" ] && [ "$p" != / ] && [ "$p" != . ]; do
        missing="$p
$missing"
        p=$(dirname "$p")
    done
    printf '%s' "$missing" | while IFS= read -r m; do
        [ -n "$m" ] || continue
        mkdir "$D$m"
        echo "d $m" >> "$STAGE"
    done
}
# put MODE SRC DST: install one file (written to a temporary name, then renamed).
put() {
    mkdirs "$(dirname "$3")"
    install -m "$1" "$2" "$D$3.vxtmp"
    mv -f "$D$3.vxtmp" "$D$3"
    echo "f $3" >> "$STAGE"
}
# link TARGET DST
link() {
    mkdirs "$(dirname "$2")"
    ln -sfn "$1" "$D$2"
    echo "f $2" >> "$STAGE"
}

do_install() {
    [ -z "$D" ] || mkdir -p "$D"
    # directories an earlier install created stay recorded, so uninstall still removes them
    [ -f "$D$MANIFEST" ] && grep '^d ' "$D$MANIFEST" >> "$STAGE" || true
    put 755 "$BUILD/vindex" "$BINDIR/vindex"
    put 755 "$BUILD/libvindex.so" "$LIBDIR/libvindex.so.$VERSION"
    link "libvindex.so.$VERSION" "$LIBDIR/libvindex.so.$SOVERSION"
    link "libvindex.so.$SOVERSION" "$LIBDIR/libvindex.so"
    put 644 "$BUILD/libvindex.a" "$LIBDIR/libvindex.a"
    for h in include/*.h; do put 644 "$h" "$INCLUDEDIR/$(basename "$h")"; done
    put 644 "$BUILD/vindex.1" "$MANDIR/man1/vindex.1"
    put 644 "$BUILD/vindex.3" "$MANDIR/man3/vindex.3"
    sed -e "s|@PREFIX@|$PREFIX|; s|@LIBDIR@|$LIBDIR|; s|@INCLUDEDIR@|$INCLUDEDIR|; s|@VERSION@|$VERSION|" \
        -e "s|@LIBS_PRIVATE@|$LIBS_PRIVATE|" tools/vindex.pc.in > "$STAGE.pc"
    put 644 "$STAGE.pc" "$PKGCONFIGDIR/vindex.pc"
    for f in python/vindex/*.py; do
        [ "$(basename "$f")" = _install.py ] || put 644 "$f" "$PYTHONDIR/vindex/$(basename "$f")"
    done
    printf '"""Written by make install: where it put libvindex."""\nLIBDIR = %s\n' "'$LIBDIR'" > "$STAGE.py"
    put 644 "$STAGE.py" "$PYTHONDIR/vindex/_install.py"
    mkdirs "$DATADIR"
    echo "f $MANIFEST" >> "$STAGE"
    sort -u "$STAGE" > "$D$MANIFEST.vxtmp"
    mv -f "$D$MANIFEST.vxtmp" "$D$MANIFEST"
    # a real install (no DESTDIR) by root: let the loader find the new soname
    if [ -z "$D" ] && [ "$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig || true; fi
    echo "installed vindex $VERSION under $D$PREFIX ($(grep -c '^f ' "$D$MANIFEST") files; manifest $D$MANIFEST)"
}

do_uninstall() {
    if [ ! -f "$D$MANIFEST" ]; then echo "uninstall: no $D$MANIFEST: nothing installed here"; exit 0; fi
    cp "$D$MANIFEST" "$STAGE"
    grep '^f ' "$STAGE" | cut -c3- | while IFS= read -r f; do rm -f "$D$f"; done
    rm -rf "$D$PYTHONDIR/vindex/__pycache__"
    grep '^d ' "$STAGE" | cut -c3- | sort -r | while IFS= read -r d; do rmdir "$D$d" 2>/dev/null || true; done
    if [ -z "$D" ] && [ "$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig || true; fi
    echo "uninstalled vindex from $D$PREFIX"
}

case "${1:-}" in
install) do_install ;;
uninstall) do_uninstall ;;
*) echo "usage: install.sh install|uninstall" >&2; exit 2 ;;
esac
