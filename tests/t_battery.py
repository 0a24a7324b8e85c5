#!/usr/bin/python3
"""The weight battery, the unembedding and the content digest (spec/vindex-format.md §9),
against independent float64 numpy/scipy references computed from the checkpoints:

- spectra.bin: every singular value of every stacked gate and down matrix (numpy SVD),
  1e-3 relative for sigma >= 1e-3 sigma_1, zeros beyond the rank bound, descending, the
  leading F equal to gate_sigma/down_sigma;
- layers[l].weights: shapes, Frobenius norms, sparsity fractions (exact counts);
- neurons.bin: per-neuron gate/up/down norms, MoE experts stacked with the shared expert last;
- moments.bin: mean/std/skew/excess kurtosis of each direction's vocabulary projection
  against scipy.stats.skew/kurtosis of numpy's projection;
- unembed.bin (extract --unembed): bit-identical to numpy's f16 conversion of lm_head;
- the content digest: equal for two extractions, equal to a Python computation, changed by
  any data byte, unchanged by manifest.json; info/verify print it;
- a version-1 vindex (written here from a version-2 one) still opens, verifies and reports
  what it lacks.

On the four fixtures and on synthetic Qwen3-MoE (per-expert with a shared expert, fused),
Phi-3 and GPT-2 checkpoints. Prints "N passed, N failed".
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import scipy.stats

import t_extract_arch as arch
from t_extract import load_ckpt
from vxtest import BDIR, FIX, ROOT, VINDEX, asan_runtime, check, finish

THRESH = (1e-6, 1e-4, 1e-3, 1e-2, 1e-1)


def run(args):
    return subprocess.run([VINDEX] + args, capture_output=True, text=True)


def mlp_reference(t, L):
    """Per layer (gate [N,H], up [N,H] or None, down [H,N]) in spec §3's stacking, found by name."""
    names = list(t)
    m = next(re.match(r"(.*?)(layers|h)\.\d+\.mlp\.", n) for n in names if re.match(r"(.*?)(layers|h)\.\d+\.mlp\.", n))
    pfx = m.group(1) + m.group(2) + "."
    out = []
    for l in range(L):
        p = f"{pfx}{l}.mlp."
        if p + "c_fc.weight" in t:  # GPT-2 Conv1D [in, out]
            out.append((t[p + "c_fc.weight"].T, None, t[p + "c_proj.weight"].T))
        elif p + "gate_up_proj.weight" in t:  # Phi-3: gate = first half of the rows, up = second
            gu = t[p + "gate_up_proj.weight"]
            I = gu.shape[0] // 2
            out.append((gu[:I], gu[I:], t[p + "down_proj.weight"]))
        elif p + "experts.gate_up_proj" in t or p + "experts.0.gate_proj.weight" in t:
            gs, us, ds = [], [], []
            if p + "experts.gate_up_proj" in t:
                gu, dp = t[p + "experts.gate_up_proj"], t[p + "experts.down_proj"]
                I = gu.shape[1] // 2
                for e in range(gu.shape[0]):
                    gs.append(gu[e, :I]); us.append(gu[e, I:]); ds.append(dp[e])
            else:
                e = 0
                while f"{p}experts.{e}.gate_proj.weight" in t:
                    q = f"{p}experts.{e}."
                    gs.append(t[q + "gate_proj.weight"]); us.append(t[q + "up_proj.weight"]); ds.append(t[q + "down_proj.weight"])
                    e += 1
            if p + "shared_expert.gate_proj.weight" in t:
                q = p + "shared_expert."
                gs.append(t[q + "gate_proj.weight"]); us.append(t[q + "up_proj.weight"]); ds.append(t[q + "down_proj.weight"])
            out.append((np.vstack(gs), np.vstack(us), np.hstack(ds)))
        else:
            out.append((t[p + "gate_proj.weight"], t[p + "up_proj.weight"], t[p + "down_proj.weight"]))
    return out


def unembedding(t):
    """(unembedding [V,H], final norm effective weight) of the checkpoint tensors."""
    emb = next(t[n] for n in t if n.endswith("embed_tokens.weight") or n.endswith("wte.weight"))
    unemb = t.get("lm_head.weight", emb)
    fn = next(t[n] for n in t if re.fullmatch(r"(.*\.)?(norm|ln_f)\.weight", n) and "layers." not in n)
    return unemb, emb, fn


def load(out, name, dtype):
    return np.frombuffer(open(os.path.join(out, name), "rb").read(), dtype=dtype)


def check_battery(name, src, out, t, norm_offset):
    idx = json.load(open(os.path.join(out, "index.json")))
    L, F, H, V = idx["num_layers"], idx["num_feats"], idx["hidden_size"], idx["vocab_size"]
    check(idx["version"] == 2, f"{name}: version {idx['version']}")
    files = idx["files"]
    for f, dt, shape in (("spectra.bin", "f32", [L, 2, H]), ("moments.bin", "f32", [L, 2, F, 4])):
        check(f in files and files[f]["dtype"] == dt and files[f]["shape"] == shape and
              files[f]["bytes"] == int(np.prod(shape)) * 4, f"{name}: files.{f} {files.get(f)}")
    # The numpy loading the spec and DEVELOPERS.md promise.
    spectra = load(out, "spectra.bin", "<f4").reshape(L, 2, H)
    moments = load(out, "moments.bin", "<f4").reshape(L, 2, F, 4)
    neurons = load(out, "neurons.bin", "<f4")
    check(files["neurons.bin"]["shape"] == [neurons.size], f"{name}: files.neurons.bin shape")
    refs = mlp_reference(t, L)
    gate16 = load(out, "gate_vectors.bin", np.float16).reshape(L, F, H)
    down16 = load(out, "down_features.bin", np.float16).reshape(L, F, H)
    off = 0
    worst = {"sigma": 0.0, "fro": 0.0, "neuron": 0.0}
    for l, (G, U, D) in enumerate(refs):
        lay = idx["layers"][l]
        N = G.shape[0]
        kinds = ["gate", "up", "down"] if U is not None else ["gate", "down"]
        nj = lay.get("neurons", {})
        check(nj.get("offset") == off and nj.get("count") == N and nj.get("kinds") == kinds,
              f"{name}: layer {l} neurons {nj}, expected offset {off} count {N} kinds {kinds}")
        block = neurons[off // 4: off // 4 + len(kinds) * N].reshape(len(kinds), N)
        off += 4 * len(kinds) * N
        mats = {"gate": G, "up": U, "down": D}
        for r, k in enumerate(kinds):
            M = mats[k]
            w = lay["weights"].get(k, {})
            rows, cols = M.shape
            check(w.get("rows") == rows and w.get("cols") == cols, f"{name}: layer {l} {k} shape {w.get('rows')}x{w.get('cols')}")
            fro = np.linalg.norm(M)
            worst["fro"] = max(worst["fro"], abs(w.get("fro", -1) - fro) / fro)
            sp = [float(np.count_nonzero(np.abs(M) < th)) / M.size for th in THRESH]
            check(np.allclose(w.get("sparsity", []), sp, rtol=0, atol=1e-12), f"{name}: layer {l} {k} sparsity {w.get('sparsity')} vs {sp}")
            nref = np.linalg.norm(M, axis=1 if k != "down" else 0)  # rows of gate/up, columns of down
            worst["neuron"] = max(worst["neuron"], float(np.max(np.abs(block[r] - nref) / np.maximum(nref, 1e-30))))
        check("up" in lay["weights"] or U is None, f"{name}: layer {l} lacks weights.up")
        for kind, M, key in ((0, G, "gate_sigma"), (1, D, "down_sigma")):
            s = np.linalg.svd(M, compute_uv=False)
            ref = np.zeros(H)
            ref[: min(H, len(s))] = s[:H]
            got = spectra[l, kind].astype(np.float64)
            big = ref >= 1e-3 * ref[0]
            rel = float(np.max(np.abs(got[big] - ref[big]) / ref[big]))
            worst["sigma"] = max(worst["sigma"], rel)
            floor = 4 * ref[0] * np.sqrt(H * 2.0**-24)  # what an f32 Gram resolves
            check(np.all(np.abs(got[~big] - ref[~big]) <= floor), f"{name}: layer {l} kind {kind}: small singular values off by more than {floor:.3g}")
            check(np.all(got[min(H, N):] == 0), f"{name}: layer {l} kind {kind}: values beyond the rank bound {min(H, N)} not 0")
            check(np.all(np.diff(got) <= 0) and np.all(got >= 0), f"{name}: layer {l} kind {kind}: spectrum not descending/non-negative")
            check(np.array_equal(spectra[l, kind, :F], np.array(lay[key], dtype=np.float32)), f"{name}: layer {l} {key} != spectra[:F]")
            fro2 = float(np.sum(M * M))
            check(abs(float(np.sum(got * got)) - fro2) <= 1e-3 * fro2, f"{name}: layer {l} kind {kind}: sum sigma^2 vs ||W||_F^2")
    check(off == neurons.nbytes, f"{name}: neurons blocks cover {off} of {neurons.nbytes} bytes")
    check(worst["sigma"] < 1e-3, f"{name}: spectra off by {worst['sigma']:.3g} relative (sigma >= 1e-3 sigma_1)")
    check(worst["fro"] < 1e-9, f"{name}: Frobenius norms off by {worst['fro']:.3g} relative")
    check(worst["neuron"] < 1e-6, f"{name}: neuron norms off by {worst['neuron']:.3g} relative")

    # Moments of p = U (w * d): the reference direction is numpy's exact singular vector
    # (sign of the stored one) where it is well separated, else the stored f16 direction.
    unemb, _, fn = unembedding(t)
    w = fn + norm_offset
    tight = loose = 0
    bad = []
    for l, (G, _, D) in enumerate(refs):
        for kind, M, stored in ((0, G, gate16[l]), (1, D.T, down16[l])):
            _, _, vt = np.linalg.svd(M, full_matrices=False)
            for f in range(F):
                d16 = stored[f].astype(np.float64)
                v = vt[f] if f < vt.shape[0] else d16
                c = float(v @ d16) / (np.linalg.norm(v) * np.linalg.norm(d16))
                if c * c >= 1 - 1e-5:
                    d, tol = np.sign(c) * v, 2e-4
                    tight += 1
                else:
                    d, tol = d16, 2e-2
                    loose += 1
                p = unemb @ (w * d)
                ref = np.array([p.mean(), p.std(), scipy.stats.skew(p), scipy.stats.kurtosis(p)])
                got = moments[l, kind, f].astype(np.float64)
                sd = ref[1]
                err = max(abs(got[0] - ref[0]) / sd, abs(got[1] - sd) / sd, abs(got[2] - ref[2]) / max(1, abs(ref[2])),
                          abs(got[3] - ref[3]) / max(1, abs(ref[3])))
                if not err <= tol:
                    bad.append((l, kind, f, float(err), got.tolist(), ref.tolist()))
    check(not bad, f"{name}: {len(bad)} moment records disagree with scipy (first {bad[:2]})")
    check(tight >= loose, f"{name}: only {tight} of {tight + loose} directions compared tightly")
    check(np.all(np.isfinite(moments)) and np.all(moments[..., 1] >= 0), f"{name}: moments finite, std >= 0")
    return idx


def developers_snippet(name, out, t):
    """DEVELOPERS.md's numpy snippet for the battery, run as written."""
    text = open(os.path.join(ROOT, "DEVELOPERS.md")).read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    block = next((b for b in blocks if "spectra.bin" in b), None)
    if not check(block is not None, "DEVELOPERS.md has a battery snippet"):
        return
    d = out
    idx = json.load(open(f"{d}/index.json"))
    L, F, H = idx["num_layers"], idx["num_feats"], idx["hidden_size"]
    env = {"np": np, "json": json, "d": d, "idx": idx, "L": L, "F": F, "H": H}
    exec(block, env)
    G, U, D = mlp_reference(t, L)[L - 1]
    check(env["spectra"].shape == (L, 2, H) and env["moments"].shape == (L, 2, F, 4), f"{name}: snippet shapes")
    check(np.allclose(env["norms"]["gate"], np.linalg.norm(G, axis=1), rtol=1e-6) and
          np.allclose(env["norms"]["down"], np.linalg.norm(D, axis=0), rtol=1e-6), f"{name}: snippet neuron norms")
    check(abs(env["fro"] - np.linalg.norm(G)) <= 1e-9 * np.linalg.norm(G), f"{name}: snippet fro")
    if idx.get("unembedding") == "unembed.bin":
        check(env["unemb"].shape == (idx["vocab_size"], H), f"{name}: snippet unembedding")


def extract(src, out, *extra):
    r = run(["extract", src, "-o", out, "-f", "8", "-k", "4", "--quiet"] + list(extra))
    check(r.returncode == 0, f"extract {src} {extra}: {r.stderr.strip()}")
    return r


def sums_digest(out):
    """R-B6, computed independently: SHA-256 of the SHA256SUMS lines but manifest.json's, sorted by name."""
    lines = [l for l in open(os.path.join(out, "SHA256SUMS"), "rb").read().split(b"\n") if l]
    keep = sorted((l for l in lines if l.split(b"  ", 1)[1] != b"manifest.json"), key=lambda l: l.split(b"  ", 1)[1])
    return hashlib.sha256(b"".join(l + b"\n" for l in keep)).hexdigest()


def rewrite_sums(out):
    names = sorted(f for f in os.listdir(out) if f != "SHA256SUMS")
    text = "".join(f"{hashlib.sha256(open(os.path.join(out, f), 'rb').read()).hexdigest()}  {f}\n" for f in names)
    open(os.path.join(out, "SHA256SUMS"), "w").write(text)


DIGEST_CHILD = """import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
buf, err = ctypes.create_string_buffer(65), ctypes.create_string_buffer(1100)
print(buf.value.decode() if lib.vx_content_digest(buf, sys.argv[2].encode(), err) == 0 else "")"""


def lib_digest(d):
    """vx_content_digest through libvindex.so (reads SHA256SUMS only), in a child python
    that has a sanitizer build's runtime preloaded when the library needs one."""
    lib = os.path.join(BDIR, "libvindex.so")
    env = dict(os.environ)
    rt = asan_runtime(lib)
    if rt:
        env["LD_PRELOAD"] = rt
        env["ASAN_OPTIONS"] = "detect_leaks=0"
    p = subprocess.run([sys.executable, "-c", DIGEST_CHILD, lib, d], capture_output=True, text=True, env=env)
    check(p.returncode == 0, f"vx_content_digest child: {p.stderr[-300:]}")
    return p.stdout.strip() or None


def info_json(out):
    r = run(["info", out, "--json"])
    check(r.returncode == 0, f"info {out}: {r.stderr}")
    return json.loads(r.stdout) if r.returncode == 0 else {}


def test_fixtures(tmp):
    outs = {}
    for name in ("tiny-llama", "tiny-qwen3", "tiny-gpt2", "tiny-gemma3"):
        src = os.path.join(FIX, name)
        out = os.path.join(tmp, name)
        if extract(src, out).returncode:
            continue
        t = load_ckpt(src)
        idx = check_battery(name, src, out, t, 1.0 if name == "tiny-gemma3" else 0.0)
        developers_snippet(name, out, t)
        tied = "lm_head.weight" not in t
        check(idx.get("unembedding") == ("embeddings" if tied else None), f"{name}: unembedding {idx.get('unembedding')!r}")
        r = run(["verify", out])
        check(r.returncode == 0 and sums_digest(out) in r.stdout, f"{name}: verify prints OK and the digest: {r.stdout}{r.stderr}")
        outs[name] = out
        if name == "tiny-llama":
            tiled(name, src, out, t, tmp)
    return outs


def tiled(name, src, one, t, tmp):
    """The projection in tiles of 7 vocabulary rows (the last one short) against the same
    extraction in one tile: the top-K lists merge across tiles to the same records, and the
    moments, summed tile by tile from the first tile's shift, still match scipy."""
    out = os.path.join(tmp, name + "-tiled")
    os.environ["VINDEX_PROJ_TILE_ROWS"] = "7"
    try:
        r = extract(src, out)
    finally:
        del os.environ["VINDEX_PROJ_TILE_ROWS"]
    if r.returncode:
        return
    V = json.load(open(os.path.join(out, "index.json")))["vocab_size"]
    check(V % 7 != 0 and V > 7 * 100, f"{name}: {V} rows make many tiles and a short last one")
    rec = np.dtype([("id", "<u4"), ("v", "<f4")])
    a = np.frombuffer(open(os.path.join(one, "down_meta.bin"), "rb").read()[32:], dtype=rec)
    b = np.frombuffer(open(os.path.join(out, "down_meta.bin"), "rb").read()[32:], dtype=rec)
    check(a.shape == b.shape and np.array_equal(a["id"], b["id"]) and np.allclose(a["v"], b["v"], rtol=1e-6, atol=0),
          f"{name}: down_meta in tiles of 7 rows differs from one tile")
    m1, m7 = (open(os.path.join(d, "moments.bin"), "rb").read() for d in (one, out))
    check(m1 != m7, f"{name}: moments.bin the same bytes from 7-row tiles (another shift): the tiles were not used")
    check_battery(name + " (tiles of 7 rows)", src, out, t, 0.0)


def test_synthetic(tmp):
    """Qwen3-MoE (experts + shared, fused), Phi-3, GPT-2 from t_extract_arch's generators' shapes."""
    H, V = arch.H, arch.V
    rng = arch.rng
    mat = arch.mat
    cases = []
    # Qwen3-MoE: layer 1 dense (mlp_only_layers), others E experts (+ shared expert)
    for fused, shared in ((False, True), (True, False)):
        cfg, t, _ = arch.qwen3_moe_weights(fused, shared)
        cases.append((f"moe-{'fused' if fused else 'experts-shared'}", cfg, t, "BF16"))
    L, I = 2, 40
    cfg = {"architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_size": H, "intermediate_size": I,
           "num_hidden_layers": L, "vocab_size": V, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
           "num_attention_heads": 4}
    t = {"model.embed_tokens.weight": rng.standard_normal((V, H)), "model.norm.weight": rng.uniform(0.5, 1.5, H),
         "lm_head.weight": rng.standard_normal((V, H)) * 300}  # some values beyond f16 after scaling below
    t["lm_head.weight"][3, :4] = [70000.0, -80000.0, 65519.0, 1e5]  # clamped by --unembed, counted
    for l in range(L):
        p = f"model.layers.{l}."
        t[p + "mlp.gate_up_proj.weight"] = np.vstack([mat(I, H), mat(I, H)])
        t[p + "mlp.down_proj.weight"] = mat(H, I)
        t[p + "input_layernorm.weight"] = rng.uniform(0.5, 1.5, H)
        t[p + "post_attention_layernorm.weight"] = rng.uniform(0.5, 1.5, H)
    cases.append(("phi3", cfg, t, "F32"))
    cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": H, "n_inner": None, "n_layer": L,
           "vocab_size": V, "n_head": 4, "n_positions": 64, "torch_dtype": "float32"}
    t = {"wte.weight": rng.standard_normal((V, H)), "wpe.weight": rng.standard_normal((64, H)),
         "ln_f.weight": rng.uniform(0.5, 1.5, H), "ln_f.bias": rng.standard_normal(H)}
    for l in range(L):
        p = f"h.{l}."
        t[p + "mlp.c_fc.weight"] = mat(H, 4 * H)
        t[p + "mlp.c_fc.bias"] = rng.standard_normal(4 * H)
        t[p + "mlp.c_proj.weight"] = mat(4 * H, H)
        t[p + "mlp.c_proj.bias"] = rng.standard_normal(H)
        for n in ("ln_1", "ln_2"):
            t[p + n + ".weight"] = rng.uniform(0.5, 1.5, H)
            t[p + n + ".bias"] = rng.standard_normal(H)
        t[p + "attn.c_attn.weight"] = rng.standard_normal((H, 3 * H))
        t[p + "attn.c_proj.weight"] = rng.standard_normal((H, H))
    cases.append(("gpt2", cfg, t, "F32"))
    for name, cfg, t, dtype in cases:
        d = os.path.join(tmp, name)
        # Sparsity at every threshold: zero a few entries and shrink some to each scale.
        for n, a in t.items():
            if ".mlp." in n and a.ndim >= 2:
                flat = a.reshape(-1)
                k = flat.size
                flat[rng.integers(0, k, k // 50)] = 0.0
                for sc in (3e-7, 3e-5, 3e-4, 3e-3, 3e-2):
                    flat[rng.integers(0, k, k // 50)] *= sc
        st = arch.make(d, cfg, t, dtype=dtype)
        out = d + ".vx"
        extra = ["--unembed"] if name == "phi3" else []
        if extract(d, out, *extra).returncode:
            continue
        idx = check_battery(name, d, out, st, 0.0)
        developers_snippet(name, out, st)
        if name == "phi3":
            want = np.clip(st["lm_head.weight"].astype(np.float32), -65504, 65504).astype(np.float16)
            got = load(out, "unembed.bin", np.float16)
            check(np.array_equal(got.view(np.uint16), want.reshape(-1).view(np.uint16)), "phi3: unembed.bin bit-identical to numpy's f16 lm_head")
            nclamp = int(np.count_nonzero(np.abs(st["lm_head.weight"].astype(np.float32)) > 65504))
            check(idx.get("unembedding") == "unembed.bin" and idx.get("unembed_clamped") == nclamp and nclamp >= 3,
                  f"phi3: unembedding {idx.get('unembedding')!r}, clamped {idx.get('unembed_clamped')} vs {nclamp}")
            f = idx["files"].get("unembed.bin", {})
            check(f.get("dtype") == "f16" and f.get("shape") == [V, H] and f.get("bytes") == V * H * 2, f"phi3: files.unembed.bin {f}")
            man = json.load(open(os.path.join(out, "manifest.json")))
            check(man["clamped"].get("unembed") == nclamp and man["options"].get("unembed") is True, f"phi3: manifest {man['clamped']}")
            inf = info_json(out)
            check(inf.get("unembedding") == "unembed.bin" and inf.get("battery") is True and inf.get("format_version") == 2,
                  f"phi3: info {inf.get('unembedding')} {inf.get('battery')}")
            r = run(["verify", out])
            check(r.returncode == 0, f"phi3 --unembed verify: {r.stdout}{r.stderr}")
        else:
            check("unembed.bin" not in os.listdir(out), f"{name}: unembed.bin without --unembed")


def test_unembed_tied(tmp):
    out = os.path.join(tmp, "qwen3-unembed")
    r = extract(os.path.join(FIX, "tiny-qwen3"), out, "--unembed")
    if r.returncode == 0:
        check("tied" in r.stderr and "unembed.bin" not in os.listdir(out), f"--unembed on a tied model: warns, no file: {r.stderr!r}")
        check(json.load(open(os.path.join(out, "index.json")))["unembedding"] == "embeddings", "tied: unembedding = embeddings")
    out = os.path.join(tmp, "llama-unembed")
    if extract(os.path.join(FIX, "tiny-llama"), out, "--unembed").returncode == 0:
        t = load_ckpt(os.path.join(FIX, "tiny-llama"))
        want = np.clip(t["lm_head.weight"].astype(np.float32), -65504, 65504).astype(np.float16)
        check(np.array_equal(load(out, "unembed.bin", np.uint16), want.reshape(-1).view(np.uint16)),
              "tiny-llama: unembed.bin bit-identical to numpy's f16 lm_head")
        check(info_json(out).get("unembedding") == "unembed.bin", "tiny-llama --unembed: info says unembed.bin")
        check(run(["verify", out]).returncode == 0, "tiny-llama --unembed verifies")


def test_digest(tmp, out):
    """R-B6 on tiny-llama."""
    src = os.path.join(FIX, "tiny-llama")
    again = os.path.join(tmp, "digest-again")
    if extract(src, again).returncode:
        return
    d1 = json.load(open(os.path.join(out, "manifest.json"))).get("content_digest")
    d2 = json.load(open(os.path.join(again, "manifest.json"))).get("content_digest")
    check(d1 is not None and re.fullmatch(r"[0-9a-f]{64}", d1) is not None, f"manifest content_digest {d1!r}")
    check(d1 == d2, f"two extractions of one checkpoint: digests {d1} vs {d2}")
    check(d1 == sums_digest(out) == lib_digest(out), "content digest equals the independent Python computation and vx_content_digest")
    check(info_json(out).get("content_digest") == d1, "info --json prints the digest")
    r = run(["info", out])
    check(d1 in r.stdout, "info text prints the digest")
    r = run(["verify", out, "--json"])
    check(r.returncode == 0 and json.loads(r.stdout).get("content_digest") == d1, "verify --json prints the digest")
    # Any data byte changes it (once SHA256SUMS says so); manifest.json does not.
    work = os.path.join(tmp, "digest-work")
    for f in sorted(os.listdir(out)):
        if f == "SHA256SUMS":
            continue
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(out, work)
        p = os.path.join(work, f)
        b = bytearray(open(p, "rb").read())
        b[len(b) // 2] ^= 0x10
        open(p, "wb").write(bytes(b))
        rewrite_sums(work)
        got = lib_digest(work)
        if f == "manifest.json":
            check(got == d1, "a changed manifest.json leaves the digest as it was")
        else:
            check(got is not None and got != d1 and got == sums_digest(work), f"a changed byte in {f} changes the digest")
    shutil.rmtree(work, ignore_errors=True)


def make_v1(v2, v1):
    """The version-1 vindex the same extraction would have written: no §9 files or keys."""
    shutil.copytree(v2, v1)
    for f in ("spectra.bin", "neurons.bin", "moments.bin", "unembed.bin"):
        if os.path.exists(os.path.join(v1, f)):
            os.remove(os.path.join(v1, f))
    idx = json.load(open(os.path.join(v1, "index.json")))
    idx["version"] = 1
    for k in ("unembedding", "unembed_clamped"):
        idx.pop(k, None)
    for lay in idx["layers"]:
        lay.pop("weights", None)
        lay.pop("neurons", None)
    for f in ("spectra.bin", "neurons.bin", "moments.bin", "unembed.bin"):
        idx["files"].pop(f, None)
    json.dump(idx, open(os.path.join(v1, "index.json"), "w"), indent=1)
    man = json.load(open(os.path.join(v1, "manifest.json")))
    man["format_version"] = 1
    man.pop("content_digest", None)
    json.dump(man, open(os.path.join(v1, "manifest.json"), "w"), indent=1)
    rewrite_sums(v1)


def test_v1(tmp, v2):
    v1 = os.path.join(tmp, "v1")
    make_v1(v2, v1)
    r = run(["verify", v1])
    check(r.returncode == 0, f"a version-1 vindex verifies: {r.stdout}{r.stderr}")
    inf = info_json(v1)
    check(inf.get("format_version") == 1 and inf.get("battery") is False and inf.get("content_digest") == sums_digest(v1),
          f"info on version 1: {inf.get('format_version')} {inf.get('battery')} {inf.get('content_digest')}")
    check(inf.get("unembedding") is None, "untied version 1: no unembedding")
    r = run(["info", v1])
    check(r.returncode == 0 and "version 1" in r.stdout and "absent" in r.stdout, f"info text on version 1: {r.stdout}")
    r = run(["score", v1, " Paris", "--top", "3"])
    check(r.returncode == 0, f"queries on a version-1 vindex: {r.stderr}")
    # A version-1 index.json may not list §9 files (R-F1).
    bad = os.path.join(tmp, "v1-bad")
    shutil.copytree(v1, bad)
    shutil.copy(os.path.join(v2, "spectra.bin"), bad)
    idx = json.load(open(os.path.join(bad, "index.json")))
    idx["files"]["spectra.bin"] = json.load(open(os.path.join(v2, "index.json")))["files"]["spectra.bin"]
    json.dump(idx, open(os.path.join(bad, "index.json"), "w"))
    rewrite_sums(bad)
    r = run(["info", bad])
    check(r.returncode == 1 and "spectra.bin" in r.stderr, f"version 1 listing spectra.bin is refused: {r.stderr!r}")


def main():
    tmp = tempfile.mkdtemp(prefix="vx-battery-")
    try:
        outs = test_fixtures(tmp)
        test_synthetic(tmp)
        test_unembed_tied(tmp)
        if "tiny-llama" in outs:
            test_digest(tmp, outs["tiny-llama"])
            test_v1(tmp, outs["tiny-llama"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
