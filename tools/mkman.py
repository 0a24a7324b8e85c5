#!/usr/bin/python3
"""mkman.py — the manual pages, generated so that they cannot drift from the program.

  mkman.py 1 VINDEX TEMPLATE OUT   vindex(1): TEMPLATE (man/vindex.1.in, hand-written: name,
                                   description, environment, files) with its "@COMMANDS@"
                                   line replaced by one section per command, each made from
                                   `VINDEX CMD --help` (usage, text, options, exit status);
                                   the commands are those `VINDEX --help` lists, so a new
                                   command gets its section by existing.
  mkman.py 3 INCLUDE_DIR TEMPLATE OUT
                                   vindex(3): TEMPLATE (man/vindex.3.in) with "@FUNCTIONS@"
                                   replaced by every prototype of INCLUDE_DIR/*.h, by header.
Output is written to a temporary name and renamed.
"""
import os
import re
import subprocess
import sys


def esc(s):
    """Text as roff: backslashes escaped, and a leading '.' or "'" made literal."""
    s = s.replace("\\", "\\e")
    return "\\&" + s if s[:1] in (".", "'") else s


def opt(s):
    """An option spec in bold with literal minus signs: "-n, --top N"."""
    return esc(s).replace("-", "\\-")


def help_text(vindex, *args):
    p = subprocess.run([vindex, *args], capture_output=True, text=True, env=dict(os.environ, LC_ALL="C.UTF-8"))
    if p.returncode != 0:
        sys.exit(f"mkman: {vindex} {' '.join(args)}: exit {p.returncode}")
    return p.stdout


def commands(vindex):
    out, on = [], False
    for line in help_text(vindex, "--help").splitlines():
        if line.strip() == "commands:":
            on = True
        elif on and not line.strip():
            break
        elif on:
            name, _, what = line.strip().partition(" ")
            out.append((name, what.strip()))
    if not out:
        sys.exit("mkman: no commands in vindex --help")
    return out


OPT = re.compile(r"^ {1,6}(-\S.*?)(?: {2,}(\S.*))?$")


def section(name, what, text):
    """One command's section from its --help text."""
    lines = text.rstrip("\n").split("\n")
    blocks, cur = [], []
    for line in lines:
        if line.strip():
            cur.append(line)
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    out = [f'.SS "vindex {name}"', esc(what[:1].upper() + what[1:]) + "."]
    for b in blocks:
        if b[0].startswith("usage:"):
            out += [".PP", ".nf"]
            for i, l in enumerate(b):
                l = l[len("usage: "):] if i == 0 else l.strip()
                out.append("\\fB" + opt(l) + "\\fR")
            out.append(".fi")
        elif b[0].strip().lower().startswith("exit status"):
            out += [".PP", esc(" ".join(l.strip() for l in b)[:1].upper() + " ".join(l.strip() for l in b)[1:])]
        elif OPT.match(b[0]) or b[0].strip().endswith(":") and len(b) > 1 and OPT.match(b[1]):
            entry = None
            for l in b:
                if l.strip() == "options:":
                    continue
                m = OPT.match(l)
                if m and len(l) - len(l.lstrip()) <= 6:
                    if entry:
                        out += entry
                    entry = [".TP", "\\fB" + opt(m.group(1).strip()) + "\\fR", esc(m.group(2) or "")]
                elif entry is None:
                    out += [".PP", esc(l.strip())]
                else:
                    entry[-1] = (entry[-1] + " " + esc(l.strip())).strip()
            if entry:
                out += entry
        else:
            out += [".PP", esc(" ".join(l.strip() for l in b))]
    return "\n".join(out)


def page1(vindex, template):
    secs = [section(n, w, help_text(vindex, n, "--help")) for n, w in commands(vindex)]
    version = help_text(vindex, "--version").split()[-1]
    t = open(template).read().replace("@VERSION@", version)
    if "@COMMANDS@" not in t:
        sys.exit("mkman: no @COMMANDS@ line in " + template)
    return t.replace("@COMMANDS@", "\n".join(secs))


PROTO = re.compile(r"^((?:const\s+)?[A-Za-z_][\w\s*]*?\b(vx_\w+)\s*\(.*\))$", re.S)


def page3(include, template):
    parts = []
    for h in sorted(f for f in os.listdir(include) if f.endswith(".h")):
        src = open(os.path.join(include, h)).read()
        src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
        src = re.sub(r"#.*", " ", src)
        src = re.sub(r"typedef[^;]*?\{[^{}]*\}[^;]*;", " ", src, flags=re.S)
        protos = []
        for stmt in src.split(";"):
            stmt = " ".join(stmt.replace("{", ";").replace("}", ";").split(";")[-1].split())
            m = PROTO.match(stmt)
            if m and not stmt.startswith(("typedef", "return", "extern \"C\"")):
                protos.append(stmt)
        if not protos:
            continue
        parts += [f'.SS "{h}"', ".nf", f"\\fB#include <{h}>\\fR", ""]
        parts += [esc(p) + ";" for p in protos]
        parts.append(".fi")
    t = open(template).read()
    if "@FUNCTIONS@" not in t:
        sys.exit("mkman: no @FUNCTIONS@ line in " + template)
    version = re.search(r'VX_VERSION_STRING "([^"]+)"', open(os.path.join(include, "vindex.h")).read()).group(1)
    return t.replace("@VERSION@", version).replace("@FUNCTIONS@", "\n".join(parts))


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("1", "3"):
        sys.exit(__doc__)
    text = page1(sys.argv[2], sys.argv[3]) if sys.argv[1] == "1" else page3(sys.argv[2], sys.argv[3])
    out = sys.argv[4]
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
