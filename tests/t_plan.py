#!/usr/bin/python3
"""`vindex plan` states what `extract` then does (spec/plan.md):

- on the four fixtures and on synthetic checkpoints of the MoE / FP8 / MXFP4 families
  (tests/ckptgen.py via t_families): the architecture and family, layers, experts per layer,
  F and K as capped, every exact file size, the total within 2 %, the warnings extract
  prints (capped --features, ignored MTP layers);
- on the crafted-checkpoint battery of t_crafted.py: every checkpoint extract refuses, plan
  refuses with the same exit status and the same message, and without reading tensor data
  (it never takes longer than a second here);
- usage errors exit 2; an existing OUT without --force and a full disk are refused.
Prints "N passed, N failed"."""
import json
import os
import shutil
import subprocess
import tempfile
import time

import t_crafted as C
import t_families as TF
from vxtest import FIX, VINDEX, check, cpu_bf16, finish


def run(*args):
    return subprocess.run([VINDEX, *args], capture_output=True, text=True, errors="replace")


def agrees(label, src, extra=()):
    r = run("plan", src, "--json", *extra)
    check(r.returncode == 0, f"{label}: plan failed: {r.stderr}")
    if r.returncode:
        return
    p = json.loads(r.stdout)
    out = os.path.join(tempfile.mkdtemp(prefix="vx-plan-"), "v")
    e = run("extract", src, "-o", out, *extra)
    check(e.returncode == 0, f"{label}: extract failed: {e.stderr}")
    if e.returncode:
        return
    idx = json.load(open(os.path.join(out, "index.json")))
    check(p["architecture"] == idx["architecture"] and p["model_type"] == idx["model_type"], f"{label}: architecture")
    for k in ("num_layers", "num_feats", "hidden_size", "vocab_size", "down_top_k", "tied_embeddings", "intermediate_size"):
        check(p[k] == idx[k], f"{label}: {k} plan {p[k]} extract {idx[k]}")
    check(p["experts"] == [l.get("num_experts", 0) for l in idx["layers"]], f"{label}: experts {p['experts']}")
    total = 0
    for name in os.listdir(out):
        size = os.path.getsize(os.path.join(out, name))
        total += size
        f = p["files"].get(name)
        check(f is not None, f"{label}: extract wrote {name}, plan did not list it")
        if f and f["exact"]:
            check(f["bytes"] == size, f"{label}: {name}: plan {f['bytes']}, extract {size}")
    check(set(p["files"]) == set(os.listdir(out)), f"{label}: files {sorted(p['files'])} vs {sorted(os.listdir(out))}")
    check(abs(p["vindex_bytes"] - total) <= 0.02 * total, f"{label}: size plan {p['vindex_bytes']} extract {total}")
    for w in p["warnings"]:
        check(w.split(" (")[0] in e.stderr, f"{label}: plan warns {w!r}, extract did not: {e.stderr!r}")
    for line in e.stderr.splitlines():
        if "warning" in line and ("capped" in line or "multi-token" in line):
            check(any(w.split(" (")[0] in line for w in p["warnings"]), f"{label}: extract warned {line!r}, plan did not")
    es = p["estimate"]
    check(es["flops"] > 0 and es["seconds"] >= 0 and es["peak_rss_bytes"] > 0 and es["sgemm_gflops"] > 0, f"{label}: estimate {es}")
    check(p["tensors"]["read"] > 0 and p["tensors"]["read_bytes"] > 0, f"{label}: tensors read")
    shutil.rmtree(os.path.dirname(out), ignore_errors=True)


def plan_time(label, src, bf16_weights):
    """spec/plan.md P4: FLOPs at the sgemm rate, a BF16 matrix's Gram at twice it where the
    CPU has AVX-512 BF16 (a dense model here: gate and down of I vectors each layer)."""
    r = run("plan", src, "--json")
    check(r.returncode == 0, f"{label}: plan failed: {r.stderr}")
    if r.returncode:
        return
    p = json.loads(r.stdout)
    es, L, I, H = p["estimate"], p["num_layers"], p["intermediate_size"], p["hidden_size"]
    fast = 2.0 * L * 2 * I * H * H if bf16_weights and cpu_bf16() and os.environ.get("VINDEX_GRAM") != "blas" else 0.0
    want = (es["flops"] - fast / 2) / (es["sgemm_gflops"] * 1e9)
    check(abs(es["seconds_compute"] - want) <= 1e-9 * want,
          f"{label}: seconds_compute {es['seconds_compute']} vs {want} (bf16 Grams {fast:.3g} FLOP)")


def refusals(tmp):
    cases = []
    for name, fn, needle in C.safetensors_cases()[0]:
        cases.append((name, "tiny-llama", C.st_case(fn)))
    cases += [(n, "tiny-qwen3", C.index_case(e)) for n, e, _ in C.shard_cases()]
    cases += [(n, "tiny-qwen3", m) for n, m, _ in C.shard_file_cases()]
    cases += [(n, "tiny-llama", m) for n, m, _ in C.config_cases()]
    cases += [(n, "tiny-llama", m) for n, m, _ in C.tokenizer_cases()]
    for name, base, mutate in cases:
        src = C.make_src(tmp, name, base)
        mutate(src)
        t0 = time.time()
        p = run("plan", src, "--features", "8", "--top-k", "4")
        dt = time.time() - t0
        e = run("extract", src, "-o", os.path.join(tmp, "o-" + name), "--features", "8", "--top-k", "4")
        pm = p.stderr.strip().replace("vindex: plan: ", "", 1)
        em = e.stderr.strip().splitlines()[-1].replace("vindex: extract: ", "", 1) if e.stderr.strip() else ""
        check(e.returncode != 0, f"{name}: extract accepted it")
        check(p.returncode == e.returncode, f"{name}: plan exit {p.returncode}, extract {e.returncode}")
        check(pm == em, f"{name}: plan says {pm!r}, extract {em!r}")
        check(dt < 5, f"{name}: plan took {dt:.1f} s")
        j = run("plan", src, "--features", "8", "--top-k", "4", "--json")
        try:
            jo = json.loads(j.stdout)
            check(jo["ok"] is False and jo["refusal"] == pm, f"{name}: --json refusal {jo.get('refusal')!r}")
        except ValueError:
            check(False, f"{name}: --json output is not JSON: {j.stdout!r}")
        shutil.rmtree(src, ignore_errors=True)
    return len(cases)


def agrees_part(label, src, first, last, whole):
    """plan --layers A-B against extract --layers A-B (spec/parts.md): the part's files and
    their sizes, its layers; `whole` is the plan of the whole extraction, whose arithmetic
    the parts' must add up to."""
    r = run("plan", src, "--json", "--layers", f"{first}-{last}")
    check(r.returncode == 0, f"{label}: plan --layers failed: {r.stderr}")
    if r.returncode:
        return 0.0
    p = json.loads(r.stdout)
    out = os.path.join(tempfile.mkdtemp(prefix="vx-plan-"), "p")
    e = run("extract", src, "-o", out, "--layers", f"{first}-{last}")
    check(e.returncode == 0, f"{label}: extract --layers failed: {e.stderr}")
    if e.returncode:
        return 0.0
    idx = json.load(open(os.path.join(out, "index.json")))
    check(p["part"] == {"first_layer": first, "last_layer": last, "whole_model_files": first == 0}, f"{label}: part {p['part']}")
    check(idx["part"]["first_layer"] == first and idx["part"]["last_layer"] == last, f"{label}: the part extract wrote")
    check(p["num_layers"] == whole["num_layers"] == idx["num_layers"], f"{label}: the model's layers")
    names = set(os.listdir(out))
    check(set(p["files"]) == names, f"{label}: files {sorted(p['files'])} vs {sorted(names)}")
    total = 0
    for name in names:
        size = os.path.getsize(os.path.join(out, name))
        total += size
        f = p["files"].get(name)
        if f and f["exact"]:
            check(f["bytes"] == size, f"{label}: {name}: plan {f['bytes']}, extract {size}")
    check(abs(p["vindex_bytes"] - total) <= 0.05 * total, f"{label}: size plan {p['vindex_bytes']} extract {total}")
    check(p["tensors"]["read_bytes"] < whole["tensors"]["read_bytes"] or first == 0 and last == whole["num_layers"] - 1,
          f"{label}: a part reads less than the whole")
    check(0 < p["estimate"]["peak_rss_bytes"] <= whole["estimate"]["peak_rss_bytes"], f"{label}: peak memory")
    shutil.rmtree(os.path.dirname(out), ignore_errors=True)
    return p["estimate"]["flops"]


def parts(src, label):
    w = run("plan", src, "--json")
    check(w.returncode == 0, f"{label}: plan: {w.stderr}")
    whole = json.loads(w.stdout)
    L = whole["num_layers"]
    for cuts in ([(0, L - 1)], [(0, 0), (1, L - 1)], [(0, L // 2 - 1), (L // 2, L - 2), (L - 1, L - 1)]):
        f = sum(agrees_part(f"{label} --layers {a}-{b}", src, a, b, whole) for a, b in cuts)
        check(abs(f - whole["estimate"]["flops"]) <= 1e-9 * whole["estimate"]["flops"],
              f"{label} {cuts}: the parts' arithmetic {f} vs the whole's {whole['estimate']['flops']}")
    for bad in (f"{L - 1}-{L}", f"{L}"):  # past the last layer: plan refuses as extract does
        pr = run("plan", src, "--layers", bad)
        er = run("extract", src, "-o", os.path.join(tempfile.gettempdir(), "vx-plan-never"), "--layers", bad)
        pm, em = (x.stderr.strip().splitlines()[-1].split(": ", 2)[-1] if x.stderr.strip() else "" for x in (pr, er))
        check(pr.returncode == er.returncode == 2 and pm == em, f"{label} --layers {bad}: plan {pr.returncode} {pm!r}, extract {er.returncode} {em!r}")
    for bad in ("3-1", "x", "-1", "1-"):
        check(run("plan", src, "--layers", bad).returncode == 2, f"--layers {bad}: usage")


def main():
    tmp = tempfile.mkdtemp(prefix="vx-plan-")
    try:
        for fx in ("tiny-llama", "tiny-qwen3", "tiny-gpt2", "tiny-gemma3"):
            agrees(fx, os.path.join(FIX, fx))
        for fx, bf16 in (("tiny-llama", True), ("tiny-qwen3", False), ("tiny-gpt2", False)):
            plan_time(fx, os.path.join(FIX, fx), bf16)
        agrees("tiny-llama --unembed -f 16 -k 3", os.path.join(FIX, "tiny-llama"), ("--unembed", "-f", "16", "-k", "3"))
        for fam, quant in ((TF.deepseek(), "fp8-block"), (TF.gpt_oss(), "mxfp4"), (TF.mixtral(), None),
                           (TF.qwen_moe("Qwen3NextForCausalLM", "qwen3_next", L=2, E=16, Im=8, step=1), None)):
            d, _ = TF.build(tmp, fam, quant)
            agrees(os.path.basename(d), d, ("-f", "6", "-k", "4"))
            r = run("plan", d, "--json")
            if r.returncode == 0 and quant:
                check(json.loads(r.stdout)["quantization"] in ("fp8", "mxfp4"), f"{d}: quantization named")
        for fx in ("tiny-llama", "tiny-qwen3", "tiny-gemma3"):
            parts(os.path.join(FIX, fx), fx)
        n = refusals(tmp)
        print(f"{n} crafted refusals")
        # usage and the output's place
        for args in ([], ["a", "b"], [os.path.join(FIX, "tiny-llama"), "--bogus"],
                     [os.path.join(FIX, "tiny-llama"), "--disk-gbps", "0"], [os.path.join(FIX, "tiny-llama"), "-f", "x"]):
            check(run("plan", *args).returncode == 2, f"usage {args}")
        out = os.path.join(tmp, "exists")
        os.mkdir(out)
        r = run("plan", os.path.join(FIX, "tiny-llama"), "-o", out)
        check(r.returncode == 1 and "already exists" in r.stderr, f"existing OUT: {r.stderr}")
        check(run("plan", os.path.join(FIX, "tiny-llama"), "-o", out, "--force").returncode == 0, "existing OUT with --force")
        for f in ("0", "70000"):
            pr, er = run("plan", os.path.join(FIX, "tiny-llama"), "-f", f), run("extract", os.path.join(FIX, "tiny-llama"), "-o", out + "2", "-f", f)
            check(pr.returncode == er.returncode != 0, f"--features {f}: plan {pr.returncode}, extract {er.returncode}")
        check(run("plan", "--help").returncode == 0, "--help")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
