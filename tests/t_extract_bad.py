#!/usr/bin/python3
"""Bad checkpoints through `vindex extract`: each fails with exit 1 or 2 and a clear message
naming the file, leaves nothing at OUT and no temporary directory, and never replaces an
existing vindex. Also: OUT exists without --force; --force replaces atomically.
Prints "N passed, N failed"."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from vxtest import BDIR, BUILD, FIX, ROOT, VINDEX, check, failures, finish  # noqa: F401




def split(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8 : 8 + n]), b[8 + n :]


def join(header, data, raw_header=None):
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def case_dir(tmp, name, base="tiny-llama"):
    d = os.path.join(tmp, name)
    shutil.copytree(os.path.join(FIX, base), d)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    return d


def mutate_st(d, fn, file="model.safetensors"):
    p = os.path.join(d, file)
    h, data = split(p)
    out = fn(h, data)
    open(p, "wb").write(out)


def first_tensor(h):
    return sorted((k for k in h if k != "__metadata__"), key=lambda k: h[k]["data_offsets"][0])


def cases():
    def truncated(h, data):
        return join(h, data[:-100])

    def header_past_end(h, data):
        raw = json.dumps(h).encode()
        return struct.pack("<Q", len(raw) + 10**9) + raw + data

    def header_not_json(h, data):
        return join(None, data, raw_header=b"{not json" + b" " * 40)

    def header_huge(h, data):
        return struct.pack("<Q", 200_000_000) + b"{}"

    def offsets_out_of_range(h, data):
        k = first_tensor(h)[-1]
        s, e = h[k]["data_offsets"]
        h[k]["data_offsets"] = [s, e + 10**6]
        return join(h, data)

    def overlapping(h, data):
        ks = first_tensor(h)
        s, e = h[ks[1]]["data_offsets"]
        h[ks[1]]["data_offsets"] = [s - 2, e - 2]
        return join(h, data)

    def shape_mismatch(h, data):
        k = first_tensor(h)[0]
        h[k]["shape"] = [h[k]["shape"][0] + 1] + h[k]["shape"][1:]
        return join(h, data)

    def unknown_dtype(h, data):
        k = first_tensor(h)[0]
        h[k]["dtype"] = "Q4_K"
        return join(h, data)

    def fp8_mlp(h, data):
        k = "model.layers.0.mlp.gate_proj.weight"
        s, e = h[k]["data_offsets"]
        # same bytes, reinterpret as F8_E4M3 with twice the elements
        h[k]["dtype"] = "F8_E4M3"
        h[k]["shape"] = [h[k]["shape"][0] * 2, h[k]["shape"][1]]
        return join(h, data)

    def missing_tensor(h, data):
        k = "model.layers.1.mlp.down_proj.weight"
        s, e = h.pop(k)["data_offsets"]
        n = e - s
        for v in h.values():
            if isinstance(v, dict) and "data_offsets" in v and v["data_offsets"][0] >= e:
                v["data_offsets"] = [v["data_offsets"][0] - n, v["data_offsets"][1] - n]
        return join(h, data[:s] + data[e:])

    def trailing(h, data):
        return join(h, data + b"\0" * 16)

    st = [("truncated", truncated), ("header-past-end", header_past_end), ("header-not-json", header_not_json),
          ("header-huge", header_huge), ("offsets-out-of-range", offsets_out_of_range), ("overlapping", overlapping),
          ("shape-x-dtype", shape_mismatch), ("unknown-dtype", unknown_dtype), ("fp8-mlp", fp8_mlp),
          ("missing-tensor", missing_tensor, "down_proj"), ("trailing-bytes", trailing)]
    out = []
    for name, fn, *needle in st:
        out.append((name, lambda d, fn=fn: mutate_st(d, fn), needle[0] if needle else "model.safetensors"))

    def cfg_edit(edit):
        def f(d):
            p = os.path.join(d, "config.json")
            c = json.load(open(p))
            edit(c)
            json.dump(c, open(p, "w"))
        return f

    out += [
        ("config-garbage", lambda d: open(os.path.join(d, "config.json"), "w").write("{\"hidden_size\": 12"), "config.json"),
        ("config-hidden-mismatch", cfg_edit(lambda c: c.update(hidden_size=256)), "config/tensor shape mismatch"),
        ("config-negative", cfg_edit(lambda c: c.update(num_hidden_layers=-4)), "config.json"),
        ("config-huge", cfg_edit(lambda c: c.update(intermediate_size=10**15)), "config.json"),
        ("config-missing-size", cfg_edit(lambda c: c.pop("hidden_size")), "config.json"),
        ("config-unknown-arch", cfg_edit(lambda c: c.update(architectures=["MambaForCausalLM"], model_type="mamba")), "config.json"),
        ("tokenizer-garbage", lambda d: open(os.path.join(d, "tokenizer.json"), "w").write("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": "), "tokenizer.json"),
        ("tokenizer-lying-ids", lambda d: open(os.path.join(d, "tokenizer.json"), "w").write(
            json.dumps({"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}, "added_tokens": []})), "tokenizer.json"),
        ("no-tokenizer", lambda d: os.remove(os.path.join(d, "tokenizer.json")), "tokenizer.json"),
        ("no-weights", lambda d: os.remove(os.path.join(d, "model.safetensors")), "safetensors"),
    ]
    return out


def leftovers(tmp, out_name):
    return [f for f in os.listdir(tmp) if f.startswith("." + out_name + ".vxtmp")]


def main():
    tmp = tempfile.mkdtemp(prefix="vx-bad-")
    try:
        for name, mutate, needle in cases():
            d = case_dir(tmp, "src-" + name)
            mutate(d)
            out = os.path.join(tmp, "out-" + name)
            r = subprocess.run([VINDEX, "extract", d, "-o", out], capture_output=True, text=True)
            check(r.returncode in (1, 2), f"{name}: exit {r.returncode} (expected 1 or 2); stderr {r.stderr!r}")
            check(r.returncode >= 0, f"{name}: killed by signal {-r.returncode}")
            check(not os.path.exists(out), f"{name}: something left at OUT")
            check(not leftovers(tmp, "out-" + name), f"{name}: temporary directory left behind")
            check(needle in r.stderr, f"{name}: message does not name {needle}: {r.stderr.strip()!r}")
            check(r.stderr.count("\n") <= 3 and len(r.stderr) > 20, f"{name}: message not one clear line: {r.stderr!r}")

        # A NaN or an Inf in the weights (BF16: through either Gram path) is refused by name.
        def poke(tensor, bits):
            def fn(h, data):
                o = h[tensor]["data_offsets"][0] + 2 * 37
                return join(h, data[:o] + struct.pack("<H", bits) + data[o + 2:])
            return fn
        for gram in ("", "blas"):
            for tensor, bits in (("model.layers.0.mlp.gate_proj.weight", 0x7fc0), ("model.layers.1.mlp.down_proj.weight", 0xff80)):
                name = f"nonfinite-{tensor.split('.')[2]}-{tensor.split('.')[4]}-{gram or 'default'}"
                d = case_dir(tmp, "src-" + name)
                mutate_st(d, poke(tensor, bits))
                out = os.path.join(tmp, "out-" + name)
                r = subprocess.run([VINDEX, "extract", d, "-o", out, "-q"], capture_output=True, text=True,
                                   env=dict(os.environ, VINDEX_GRAM=gram))
                check(r.returncode == 1 and "NaN or Inf" in r.stderr and tensor in r.stderr and "model.safetensors" in r.stderr,
                      f"{name}: exit {r.returncode}, {r.stderr.strip()!r}")
                check(not os.path.exists(out) and not leftovers(tmp, "out-" + name), f"{name}: something left behind")

        # OUT exists: untouched without --force; a failing --force run leaves it intact; a good one replaces it.
        good = os.path.join(tmp, "good")
        r = subprocess.run([VINDEX, "extract", os.path.join(FIX, "tiny-qwen3"), "-o", good, "-f", "8"], capture_output=True, text=True)
        check(r.returncode == 0, f"extract good: {r.stderr}")
        before = open(os.path.join(good, "SHA256SUMS")).read()
        r = subprocess.run([VINDEX, "extract", os.path.join(FIX, "tiny-llama"), "-o", good], capture_output=True, text=True)
        check(r.returncode == 1 and "exists" in r.stderr, f"existing OUT without --force: {r.returncode} {r.stderr!r}")
        check(open(os.path.join(good, "SHA256SUMS")).read() == before, "existing OUT changed without --force")
        bad = case_dir(tmp, "src-force-bad")
        mutate_st(bad, lambda h, data: join(h, data[:-1]))
        r = subprocess.run([VINDEX, "extract", bad, "-o", good, "--force"], capture_output=True, text=True)
        check(r.returncode == 1, f"failing --force run: exit {r.returncode}")
        check(open(os.path.join(good, "SHA256SUMS")).read() == before, "failing --force run damaged the old vindex")
        r = subprocess.run([VINDEX, "extract", os.path.join(FIX, "tiny-llama"), "-o", good, "--force", "-f", "8"], capture_output=True, text=True)
        check(r.returncode == 0, f"--force replace: {r.stderr}")
        check(json.load(open(os.path.join(good, "index.json")))["model_type"] == "llama", "--force replaced the vindex")
        check(not leftovers(tmp, "good"), "temporary directory after --force")
        # A stale temporary directory from a killed run (dead pid) is removed by the next run.
        stale = os.path.join(tmp, ".good.vxtmp.999999999")
        os.mkdir(stale)
        open(os.path.join(stale, "gate_vectors.bin"), "wb").write(b"x")
        r = subprocess.run([VINDEX, "extract", os.path.join(FIX, "tiny-llama"), "-o", good, "--force", "-f", "8"], capture_output=True, text=True)
        check(r.returncode == 0 and not os.path.exists(stale) and "interrupted" in r.stderr, f"stale temp dir: {r.stderr!r}")
        # SIGTERM during extraction: the run stops cleanly (exit 1, "interrupted", nothing at
        # OUT, no temporary directory) or, if it was already done, leaves a complete vindex.
        big = os.path.join(tmp, "src-big")
        os.makedirs(big)
        shutil.copy(os.path.join(FIX, "tiny-llama", "tokenizer.json"), big)
        import numpy as np
        rng = np.random.default_rng(5)
        Hb, Ib, Lb, Vb = 256, 1024, 24, 4096
        cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": Hb, "intermediate_size": Ib,
               "num_hidden_layers": Lb, "vocab_size": Vb, "tie_word_embeddings": True, "torch_dtype": "float32"}
        json.dump(cfg, open(os.path.join(big, "config.json"), "w"))
        tens = {"model.embed_tokens.weight": (Vb, Hb), "model.norm.weight": (Hb,)}
        for l in range(Lb):
            tens[f"model.layers.{l}.mlp.gate_proj.weight"] = (Ib, Hb)
            tens[f"model.layers.{l}.mlp.up_proj.weight"] = (Ib, Hb)
            tens[f"model.layers.{l}.mlp.down_proj.weight"] = (Hb, Ib)
            tens[f"model.layers.{l}.input_layernorm.weight"] = (Hb,)
            tens[f"model.layers.{l}.post_attention_layernorm.weight"] = (Hb,)
        hdr, blobs, off = {}, [], 0
        for k in sorted(tens):
            b = rng.standard_normal(tens[k]).astype("<f4").tobytes()
            hdr[k] = {"dtype": "F32", "shape": list(tens[k]), "data_offsets": [off, off + len(b)]}
            blobs.append(b)
            off += len(b)
        open(os.path.join(big, "model.safetensors"), "wb").write(join(hdr, b"".join(blobs)))
        import signal, time
        seen_interrupt = seen_done = 0
        for delay in (0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2):
            out = os.path.join(tmp, "out-term")
            shutil.rmtree(out, ignore_errors=True)
            p = subprocess.Popen([VINDEX, "extract", big, "-o", out, "-f", "64"], stderr=subprocess.PIPE, text=True)
            time.sleep(delay)
            p.send_signal(signal.SIGTERM)
            _, err = p.communicate()
            if p.returncode == 1 and "interrupted" in err:
                seen_interrupt += 1
                check(not os.path.exists(out) and not leftovers(tmp, "out-term"), f"SIGTERM at {delay}s left files")
            elif p.returncode == -signal.SIGTERM:
                # Delivered before the CLI installed its handler (during exec): plain
                # termination, before anything was renamed into place.
                check(not os.path.exists(out), f"SIGTERM at {delay}s before the handler left OUT")
                for d in leftovers(tmp, "out-term"):
                    shutil.rmtree(os.path.join(tmp, d))
            else:
                seen_done += 1
                check(p.returncode == 0, f"SIGTERM at {delay}s: exit {p.returncode}: {err!r}")
                r = subprocess.run([VINDEX, "verify", out], capture_output=True, text=True)
                check(r.returncode == 0, f"SIGTERM at {delay}s after completion: verify {r.stdout}")
        check(seen_interrupt > 0, f"no SIGTERM landed during extraction ({seen_done} runs finished first)")
        # Usage errors exit 2.
        for args in (["extract"], ["extract", good], ["extract", good, "-o", good, "--features", "0"], ["extract", "--bogus"],
                     ["nosuchcommand"], ["verify"], ["info"]):
            r = subprocess.run([VINDEX] + args, capture_output=True, text=True)
            check(r.returncode == 2, f"{args}: exit {r.returncode}, expected 2")
        for cmd in ("extract", "info", "verify", "score", "nearest", "describe", "compare"):
            r = subprocess.run([VINDEX, cmd, "--help"], capture_output=True, text=True)
            check(r.returncode == 0 and "usage:" in r.stdout, f"{cmd} --help")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
