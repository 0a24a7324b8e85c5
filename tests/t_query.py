#!/usr/bin/python3
"""t_query.py — score, nearest and describe through the CLI's --json output, against a
float64 numpy computation over the same vindex files (spec/queries.md).

Vindexes: extracted from the four fixtures (tests/fixtures/tiny-*, --features 32), plus
small synthetic ones from tools/mkvindex (byte-level and Metaspace tokenizers). Checks:
top-10 sets identical up to ties within 1e-3 and cosines within 1e-3; sigma, vocabulary
projections; token resolution (raw, readable, #id, unknown, multi-piece, --text = mean of
the pieces' embeddings); --batch equal to single queries; exit codes.
Run with /usr/bin/python3 (numpy). Prints "N passed, N failed" last.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from vxtest import BDIR, BUILD, FIX, ROOT, VINDEX, check, failures, finish  # noqa: F401

MKVINDEX = os.path.join(BDIR, "tools", "mkvindex")
TOL = 1e-3



def run(*args):
    p = subprocess.run([VINDEX, *args], capture_output=True)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def run_json(*args):
    rc, out, err = run(*args, "--json")
    if rc != 0:
        raise RuntimeError(f"vindex {' '.join(args)}: exit {rc}: {err}")
    return json.loads(out)


class VX:
    """The vindex files, read whole into float64 (the reference, not the product)."""

    def __init__(self, d):
        self.d = d
        idx = json.load(open(f"{d}/index.json"))
        self.idx = idx
        L, F, H, V, K = idx["num_layers"], idx["num_feats"], idx["hidden_size"], idx["vocab_size"], idx["down_top_k"]
        self.L, self.F, self.H, self.V, self.K = L, F, H, V, K
        f16 = lambda n: np.frombuffer(open(f"{d}/{n}", "rb").read(), dtype="<f2").astype(np.float64)
        self.feat = np.stack([f16("gate_vectors.bin").reshape(L, F, H), f16("down_features.bin").reshape(L, F, H)], axis=1)
        self.emb = f16("embeddings.bin").reshape(V, H)
        dm = np.frombuffer(open(f"{d}/down_meta.bin", "rb").read()[32:], dtype=[("id", "<u4"), ("v", "<f4")])
        self.dm = dm.reshape(L, 2, F, 2 * K)
        tok = json.load(open(f"{d}/tokenizer.json"))
        v = tok["model"]["vocab"]
        self.raw = {}
        if isinstance(v, dict):
            self.raw = {s: i for s, i in v.items()}
        else:
            self.raw = {p[0]: i for i, p in enumerate(v)}
        for a in tok.get("added_tokens", []) or []:
            self.raw[a["content"]] = a["id"]
        self.id2raw = {i: s for s, i in self.raw.items()}
        self.sigma = np.array([[l["gate_sigma"], l["down_sigma"]] for l in idx["layers"]])

    def cos_rows(self, M, q):
        qn = np.linalg.norm(q)
        rn = np.linalg.norm(M, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            c = (M @ q) / (rn * qn)
        c[~np.isfinite(c)] = 0
        c[(rn == 0) | (qn == 0)] = 0
        return c

    def feat_cos(self, q, layers=None, kinds=(0, 1)):
        """{(layer, kind, feature): cosine} for the selected features."""
        out = {}
        for l in layers if layers is not None else range(self.L):
            for k in kinds:
                c = self.cos_rows(self.feat[l, k], q)
                for f in range(self.F):
                    out[(l, k, f)] = c[f]
        return out


KIND = {"gate": 0, "down": 1}


def same_topk(got, ref, rank, n, what):
    """got: [(key, cos)] as printed; ref: {key: cos}; rank: cos -> ranking value."""
    ok = True
    order = sorted(ref, key=lambda k: (-rank(ref[k]), k))
    want = order[:n]
    check(len(got) == min(n, len(ref)), f"{what}: {len(got)} results, expected {min(n, len(ref))}")
    if not got:
        return
    for key, c in got:
        if key not in ref or abs(ref[key] - c) > TOL:
            ok = False
            print(f"  {what}: {key} cosine {c} vs reference {ref.get(key)}")
    last = rank(ref[want[-1]])
    got_keys = {k for k, _ in got}
    for key in want:  # every reference top-n item missing from the output must be a tie
        if key not in got_keys and rank(ref[key]) > rank(got[-1][1]) + TOL:
            ok = False
            print(f"  {what}: missing {key} ({ref[key]}), last printed {got[-1]}")
    for key, c in got:  # and nothing printed may rank clearly below the n-th reference
        if key in ref and rank(ref[key]) < last - TOL:
            ok = False
            print(f"  {what}: {key} ({c}) ranks below the reference's n-th ({last})")
    check(ok, f"{what}: top-{n} differs from the float64 reference")


def check_score(vx, tok, tid, extra=(), layers=None, kinds=(0, 1), signed=False, what=""):
    j = run_json("score", vx.d, tok, "--top", "10", *extra)
    check(j["token_id"] == tid, f"{what}: token_id {j['token_id']} != {tid}")
    check(j["token"] == vx.id2raw.get(tid), f"{what}: token {j['token']!r}")
    ref = vx.feat_cos(vx.emb[tid], layers, kinds)
    got = [((r["layer"], KIND[r["kind"]], r["feature"]), r["cosine"]) for r in j["results"]]
    same_topk(got, ref, (lambda c: c) if signed else abs, 10, f"score {what}")
    ok = True
    for r in j["results"]:
        l, k, f = r["layer"], KIND[r["kind"]], r["feature"]
        ok &= abs(r["sigma"] - vx.sigma[l, k, f]) <= 1e-6 * max(1, vx.sigma[l, k, f])
        rec = vx.dm[l, k, f]
        end = rec[vx.K:] if r["cosine"] < 0 else rec[: vx.K]
        ok &= r["top_tokens"] == [vx.id2raw.get(int(i), "") for i in end["id"][:5]]
    check(ok, f"score {what}: sigma or top_tokens differ from index.json/down_meta.bin")
    return j


def check_nearest(vx, args, q, self_tok=None, self_feat=None, what=""):
    j = run_json("nearest", vx.d, *args, "--tokens", "10", "--features", "10")
    c = vx.cos_rows(vx.emb, q)
    ref = {i: c[i] for i in range(vx.V) if i != self_tok}
    same_topk([(t["token_id"], t["cosine"]) for t in j["tokens"]], ref, lambda x: x, 10, f"nearest tokens {what}")
    check(all(t["token"] == vx.id2raw.get(t["token_id"], "") for t in j["tokens"]), f"nearest {what}: token strings")
    fref = vx.feat_cos(q)
    if self_feat:
        fref.pop(self_feat)
    same_topk([((r["layer"], KIND[r["kind"]], r["feature"]), r["cosine"]) for r in j["features"]], fref, abs, 10,
              f"nearest features {what}")
    return j


def check_describe(vx, l, f, kind, what=""):
    j = run_json("describe", vx.d, f"{l}:{f}:{kind}", "--top", "5", "--tokens", "10", "--features", "10")
    k = KIND[kind]
    check(abs(j["sigma"] - vx.sigma[l, k, f]) <= 1e-6 * max(1, vx.sigma[l, k, f]), f"describe {what}: sigma")
    rec = vx.dm[l, k, f]
    pos = [(t["token_id"], t["value"]) for t in j["top_positive"]]
    neg = [(t["token_id"], t["value"]) for t in j["top_negative"]]
    n = min(5, vx.K)
    same = lambda a, b: len(a) == len(b) and all(x[0] == int(y[0]) and abs(x[1] - float(y[1])) <= 1e-6 * max(1, abs(x[1]))
                                                for x, y in zip(a, b))
    check(same(pos, rec[:n]), f"describe {what}: top_positive differs from down_meta.bin")
    check(same(neg, rec[vx.K: vx.K + n]), f"describe {what}: top_negative differs from down_meta.bin")
    q = vx.feat[l, k, f]
    c = vx.cos_rows(vx.emb, q)
    same_topk([(t["token_id"], t["cosine"]) for t in j["nearest_tokens"]], {i: c[i] for i in range(vx.V)}, lambda x: x, 10,
              f"describe nearest tokens {what}")
    nb = [x for x in (l - 1, l + 1) if 0 <= x < vx.L]
    fref = vx.feat_cos(q, nb)
    same_topk([((r["layer"], KIND[r["kind"]], r["feature"]), r["cosine"]) for r in j["similar_features"]], fref, abs,
              10 if fref else 0, f"describe similar features {what}")


def check_vindex(vx, name, tmp):
    toks = [s for s in ("Ġthe", "Ġof", "the", "▁the", "ĠParis", "▁Paris") if s in vx.raw and vx.raw[s] < vx.V]
    check(bool(toks), f"{name}: no test token in the vocabulary")
    t = toks[0]
    tid = vx.raw[t]
    check_score(vx, t, tid, what=f"{name} {t}")
    check_score(vx, f"#{tid}", tid, what=f"{name} #{tid}")
    readable = t.replace("Ġ", " ").replace("▁", " ")
    check_score(vx, readable, tid, what=f"{name} readable {readable!r}")
    check_score(vx, t, tid, ("--signed",), signed=True, what=f"{name} --signed")
    lay = [1, 2] if vx.L > 2 else [0]
    check_score(vx, t, tid, ("--layers", f"{lay[0]}-{lay[-1]}", "--kind", "down"), layers=lay, kinds=(1,),
                what=f"{name} --layers --kind down")
    check_score(vx, t, tid, ("--layer", "0", "--kind", "gate"), layers=[0], kinds=(0,), what=f"{name} --layer 0 gate")
    check_nearest(vx, ("--token", t), vx.emb[tid], self_tok=tid, what=f"{name} --token")
    check_nearest(vx, ("--feature", "1:3:down"), vx.feat[1, 1, 3], self_feat=(1, 1, 3), what=f"{name} --feature")
    check_nearest(vx, ("--feature", "0:2"), vx.feat[0, 0, 2], self_feat=(0, 0, 2), what=f"{name} --feature default gate")
    rng = np.random.default_rng(7)
    v = rng.standard_normal(vx.H).astype("<f4")
    vf = os.path.join(tmp, f"{name}.vec")
    v.tofile(vf)
    check_nearest(vx, ("--vector", vf), v.astype(np.float64), what=f"{name} --vector")
    open(vf + ".short", "wb").write(v.tobytes()[:-4])
    rc, _, err = run("nearest", vx.d, "--vector", vf + ".short")
    check(rc == 2 and "expected" in err, f"{name}: short vector file: exit {rc}, {err!r}")
    for l, f, k in ((0, 0, "gate"), (1, 5, "down"), (vx.L - 1, 31 if vx.F > 31 else 1, "gate")):
        check_describe(vx, l, f, k, what=f"{name} {l}:{f}:{k}")
    # --batch: the same answers as one query at a time (BLAS path).
    bf = os.path.join(tmp, f"{name}.batch")
    lines = [t, f"#{tid}", f"#{(tid + 7) % vx.V}", readable]
    open(bf, "w").write("\n".join(lines) + "\n")
    jb = run_json("score", vx.d, "--batch", bf, "--top", "10")
    check(len(jb["queries"]) == 4, f"{name}: batch score gives {len(jb['queries'])} answers")
    ok = True
    for line, qa in zip(lines, jb["queries"]):
        single = run_json("score", vx.d, line, "--top", "10")
        ok &= qa["token_id"] == single["token_id"]
        ok &= all(abs(a["cosine"] - b["cosine"]) < 1e-5 for a, b in zip(qa["results"], single["results"]))
    check(ok, f"{name}: batch score differs from single queries")
    jn = run_json("nearest", vx.d, "--batch", bf)
    sn = run_json("nearest", vx.d, "--token", lines[2])
    check(all(abs(a["cosine"] - b["cosine"]) < 1e-5 for a, b in zip(jn["queries"][2]["tokens"], sn["tokens"])),
          f"{name}: batch nearest differs from a single query")
    # Errors.
    rc, _, err = run("score", vx.d, "#99999999")
    check(rc == 1 and "out of range" in err, f"{name}: bad id: exit {rc} {err!r}")
    rc, _, err = run("score", vx.d)
    check(rc == 2, f"{name}: missing TOKEN: exit {rc}")
    rc, _, err = run("describe", vx.d, f"{vx.L}:0")
    check(rc == 1 and "out of range" in err, f"{name}: describe out of range: exit {rc} {err!r}")
    rc, _, err = run("describe", vx.d, "1:x")
    check(rc == 2, f"{name}: describe malformed: exit {rc}")


def check_pieces(vx, word, name):
    """A word that is not one token: exit 1 listing its pieces; --text = mean of them."""
    rc, _, err = run("score", vx.d, word)
    check(rc == 1 and "pieces" in err and "--text" in err, f"{name}: {word!r}: exit {rc}, {err!r}")
    import re
    ids = [int(x) for x in re.findall(r"\(#(\d+)\)", err)]
    check(len(ids) >= 2, f"{name}: {word!r}: pieces not listed: {err!r}")
    if len(ids) < 2:
        return
    joined = "".join(vx.id2raw[i] for i in ids)
    raw_word = word.replace(" ", "Ġ") if "Ġ" in "".join(vx.raw) else "▁" + word.replace(" ", "▁").lstrip("▁")
    check(joined == raw_word, f"{name}: pieces {joined!r} do not spell {raw_word!r}")
    j = run_json("score", vx.d, word, "--text", "--top", "10")
    check(j["pieces"] == ids and j["token_id"] is None, f"{name}: --text pieces {j.get('pieces')} != {ids}")
    mean = vx.emb[ids].astype(np.float32).astype(np.float64).mean(axis=0)
    got = [((r["layer"], KIND[r["kind"]], r["feature"]), r["cosine"]) for r in j["results"]]
    same_topk(got, vx.feat_cos(mean), abs, 10, f"{name}: score --text {word!r}")
    jn = run_json("nearest", vx.d, "--token", word, "--text")
    c = vx.cos_rows(vx.emb, mean)
    same_topk([(t["token_id"], t["cosine"]) for t in jn["tokens"]], {i: c[i] for i in range(vx.V)}, lambda x: x, 10,
              f"{name}: nearest --text {word!r}")


def check_damaged_entry(vx, tmp, name):
    """Opening reads vocab.bin's header only; a query that prints a token whose entry is
    damaged (V10) reports vocab.bin and the entry and exits 1, one that does not answers."""
    d = os.path.join(tmp, name + "-damaged")
    shutil.copytree(vx.d, d)
    used = set(int(i) for i in vx.dm["id"].ravel())
    bad = next(i for i in range(vx.V - 2, 0, -1) if i not in used)
    good = next(i for i in range(1, vx.V) if i != bad and vx.id2raw.get(i))
    with open(os.path.join(d, "vocab.bin"), "r+b") as f:
        eoff = int.from_bytes(f.read(32)[24:32], "little")
        f.seek(eoff + 16 * bad + 4)
        f.write((0xFFFFFFF0).to_bytes(4, "little"))  # raw_len: past the string blob
    rc, out, err = run("score", d, f"#{good}", "--json")
    check(rc == 0 and json.loads(out)["token_id"] == good, f"{name}: score #{good} beside a damaged entry: exit {rc} {err!r}")
    rc, out, err = run("score", d, f"#{bad}", "--json")
    check(rc == 1 and "vocab.bin" in err and f"entry {bad}" in err and json.loads(out)["token"] == "?",
          f"{name}: score #{bad}, its entry damaged: exit {rc}, {err!r}")
    rc, out, err = run("verify", d)
    check(rc == 1 and "vocab.bin" in out + err and "V10" in out + err, f"{name}: verify of a damaged entry: exit {rc} {out + err!r}")
    shutil.rmtree(d)


def main():
    if not os.path.exists(VINDEX) or not os.path.exists(MKVINDEX):
        print(f"{VINDEX} or {MKVINDEX} missing: run make")
        print("0 passed, 1 failed")
        return 1
    tmp = tempfile.mkdtemp(prefix="t_query.")
    try:
        for fx in ("tiny-llama", "tiny-qwen3", "tiny-gpt2", "tiny-gemma3"):
            out = os.path.join(tmp, fx)
            p = subprocess.run([VINDEX, "extract", f"tests/fixtures/{fx}", "-o", out, "--features", "32"], capture_output=True)
            if p.returncode != 0:
                check(False, f"extract {fx}: {p.stderr.decode()[-300:]}")
                continue
            vx = VX(out)
            check_vindex(vx, fx, tmp)
            if fx == "tiny-llama":
                check_pieces(vx, " Parisianism", fx)
        for style in ("bytelevel", "metaspace"):
            out = os.path.join(tmp, f"syn-{style}")
            subprocess.run([MKVINDEX, out, "--layers", "3", "--feats", "8", "--hidden", "100", "--vocab", "500", "--topk", "4",
                            "--style", style], check=True, capture_output=True)
            vx = VX(out)
            check_vindex(vx, f"syn-{style}", tmp)
            # Readable and raw forms name the same token in either style.
            raw = "ĠParis" if style == "bytelevel" else "▁Paris"
            a = run_json("score", vx.d, raw, "--top", "3")
            b = run_json("score", vx.d, " Paris", "--top", "3")
            check(a["token_id"] == vx.raw[raw] and b["token_id"] == vx.raw[raw], f"{style}: ' Paris' -> {b['token_id']}")
            check_pieces(vx, "Parisian" if style == "metaspace" else " Parisian", f"syn-{style}")
            check_damaged_entry(vx, tmp, f"syn-{style}")
            # The zero embedding row (the last) has cosine 0 with everything.
            jn = run_json("nearest", vx.d, "--token", f"#{vx.V - 1}", "--tokens", "5")
            check(all(t["cosine"] == 0 for t in jn["tokens"]) and all(f["cosine"] == 0 for f in jn["features"]),
                  f"{style}: zero row: cosines not 0")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    sys.exit(main())
