"""Synthetic checkpoints with the exact tensor names, shapes, dtypes and config keys of each
family in format/arch.c (names from transformers' modelling files and their
save_pretrained output), and an independent numpy oracle: the quantisers here write FP8
(E4M3, block / per-channel / per-tensor scales) and MXFP4 bytes, and `dequant` turns the
stored bytes back into float64 without any of the extractor's code.

Used by tests/t_families.py and tools/ (plan/extract benchmarks)."""
import json
import os
import shutil
import struct

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENIZER = os.path.join(ROOT, "tests", "fixtures", "tiny-llama", "tokenizer.json")


# ---------------------------------------------------------------- number formats

def _e4m3_table():
    v = np.zeros(256)
    for b in range(256):
        s = -1.0 if b & 0x80 else 1.0
        e, m = (b >> 3) & 15, b & 7
        if e == 15 and m == 7:
            v[b] = np.nan
        elif e == 0:
            v[b] = s * m / 8 * 2.0 ** -6
        else:
            v[b] = s * (1 + m / 8) * 2.0 ** (e - 7)
    return v


E4M3 = _e4m3_table()
E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6])


def _nearest_code(x, table):
    """Index of the nearest finite table value for every element of x (ties: lower code)."""
    finite = np.where(np.isfinite(table))[0]
    vals = table[finite]
    d = np.abs(x.reshape(-1, 1) - vals.reshape(1, -1))
    return finite[np.argmin(d, axis=1)].reshape(x.shape).astype(np.uint8)


def fp8_encode(x):
    """float64 array (|x| <= 448) -> E4M3 bytes (nearest)."""
    return _nearest_code(np.clip(x, -448, 448), E4M3)


def bf16_bytes(a):
    f = np.asarray(a, dtype=np.float64).astype(np.float32).view(np.uint32)
    r = ((f + 0x7FFF + ((f >> 16) & 1)) >> 16).astype("<u2")
    return r, (r.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def quant_fp8_block(w, br, bc):
    """w [..., R, C] -> (bytes u8, scale_inv f32 [..., ceil(R/br), ceil(C/bc)]) as DeepSeek writes."""
    *lead, R, C = w.shape
    sr, sc = -(-R // br), -(-C // bc)
    s = np.zeros((*lead, sr, sc))
    q = np.zeros(w.shape, dtype=np.uint8)
    for i in range(sr):
        for j in range(sc):
            blk = w[..., i * br:(i + 1) * br, j * bc:(j + 1) * bc]
            amax = np.max(np.abs(blk), axis=(-2, -1))
            scale = np.where(amax > 0, amax / 448.0, 1.0).astype(np.float32).astype(np.float64)
            s[..., i, j] = scale
            q[..., i * br:(i + 1) * br, j * bc:(j + 1) * bc] = fp8_encode(blk / scale[..., None, None])
    return q, s.astype(np.float32)


def quant_fp8_channel(w):
    amax = np.max(np.abs(w), axis=-1, keepdims=True)
    s = np.where(amax > 0, amax / 448.0, 1.0).astype(np.float32)
    return fp8_encode(w / s.astype(np.float64)), s


def quant_fp8_tensor(w):
    s = np.float32(np.max(np.abs(w)) / 448.0)
    return fp8_encode(w / np.float64(s)), np.array([s], dtype=np.float32)


def quant_mxfp4(w):
    """w [..., R, C] (C % 32 == 0) -> (blocks u8 [..., R, C/32, 16], scales u8 [..., R, C/32])."""
    *lead, R, C = w.shape
    g = w.reshape(*lead, R, C // 32, 32)
    amax = np.max(np.abs(g), axis=-1)
    e = np.where(amax > 0, np.ceil(np.log2(np.maximum(amax, 1e-30) / 6.0)), 0).astype(np.int64)
    scales = (e + 127).astype(np.uint8)
    codes = _nearest_code(g / np.exp2(e)[..., None], E2M1)
    blocks = (codes[..., 0::2] | (codes[..., 1::2] << 4)).astype(np.uint8)
    return blocks, scales


# ------------------------------------------------------------------- the oracle

def _values(dtype, raw):
    if dtype == "BF16":
        return (raw.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    if dtype == "F32":
        return raw.astype(np.float64)
    if dtype == "F8_E4M3":
        return E4M3[raw]
    raise ValueError(dtype)


def dequant(stored, name, block=(16, 8)):
    """The value of tensor `name` (float64) from the stored tensors alone; `block` is the
    configured FP8 block shape (weight_block_size)."""
    if name + "_blocks" in stored and name not in stored:
        blocks, scales = stored[name + "_blocks"][1], stored[name + "_scales"][1]
        lo, hi = E2M1[blocks & 15], E2M1[blocks >> 4]
        vals = np.stack([lo, hi], axis=-1).reshape(*blocks.shape[:-1], 32)
        vals = vals * np.exp2(scales.astype(np.float64) - 127)[..., None]
        return vals.reshape(*blocks.shape[:-2], blocks.shape[-2] * 32)
    dtype, raw = stored[name]
    v = _values(dtype, raw)
    if dtype != "F8_E4M3":
        return v
    if name + "_scale_inv" in stored:
        s = _values(*stored[name + "_scale_inv"])
        R, C = v.shape[-2:]
        full = np.repeat(np.repeat(s, block[0], axis=-2), block[1], axis=-1)[..., :R, :C]
        return v * full
    s = _values(*stored[name + "_scale"])
    if s.size == 1:
        return v * s.reshape(())
    return v * s.reshape(*v.shape[:-1], 1)


# --------------------------------------------------------------------- writing

def write_st(path, tensors):
    """tensors: name -> (dtype string, numpy array of the stored representation)."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        dt, a = tensors[name]
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_ckpt(d, config, stored, shards=1):
    os.makedirs(d)
    json.dump(config, open(os.path.join(d, "config.json"), "w"))
    shutil.copy(TOKENIZER, os.path.join(d, "tokenizer.json"))
    names = sorted(stored)
    if shards == 1:
        write_st(os.path.join(d, "model.safetensors"), stored)
        return
    wm = {}
    for i in range(shards):
        fn = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: stored[n] for n in names[i::shards]}
        write_st(os.path.join(d, fn), part)
        wm.update({n: fn for n in part})
    json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, open(os.path.join(d, "model.safetensors.index.json"), "w"))


def store(weights, quant=None, quantize=lambda n: False, block=(16, 8)):
    """float64 weights -> stored tensors: BF16, or FP8/MXFP4 for names `quantize` accepts."""
    out = {}
    for n, w in weights.items():
        if quant and quantize(n):
            if quant == "fp8-block":
                q, s = quant_fp8_block(w, *block)
                out[n], out[n + "_scale_inv"] = ("F8_E4M3", q), ("F32", s)
            elif quant == "fp8-channel":
                q, s = quant_fp8_channel(w)
                out[n], out[n + "_scale"] = ("F8_E4M3", q), ("BF16", bf16_bytes(s)[0])
            elif quant == "fp8-tensor":
                q, s = quant_fp8_tensor(w)
                out[n], out[n + "_scale"] = ("F8_E4M3", q), ("F32", s.reshape(()))
            elif quant == "mxfp4":
                b, s = quant_mxfp4(w)
                out[n + "_blocks"], out[n + "_scales"] = ("U8", b), ("U8", s)
            continue
        out[n] = ("BF16", bf16_bytes(w)[0].reshape(np.shape(w)))
    return out


def quant_config(quant, block=(16, 8)):
    if quant == "fp8-block":
        return {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic", "weight_block_size": list(block)}
    if quant in ("fp8-channel", "fp8-tensor"):
        strat = "channel" if quant == "fp8-channel" else "tensor"
        return {"quant_method": "compressed-tensors", "format": "float-quantized", "ignore": ["lm_head"],
                "config_groups": {"group_0": {"targets": ["Linear"],
                                              "weights": {"num_bits": 8, "type": "float", "strategy": strat, "symmetric": True}}}}
    if quant == "mxfp4":
        return {"quant_method": "mxfp4", "modules_to_not_convert": ["model.layers.*.self_attn", "model.embed_tokens", "lm_head"]}
    return None
