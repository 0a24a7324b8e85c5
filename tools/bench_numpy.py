#!/usr/bin/python3
"""bench_numpy.py VX TOKEN [score|nearest] — the query done the way users do it today:
read the whole files with np.frombuffer(open().read()), convert to f32, compute cosines
with numpy. Prints its own wall time and peak RSS; tools/bench.sh measures the process.
"""
import json
import resource
import sys
import time

import numpy as np

t0 = time.perf_counter()
d, token = sys.argv[1], sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else "score"
idx = json.load(open(f"{d}/index.json"))
L, F, H, V = idx["num_layers"], idx["num_feats"], idx["hidden_size"], idx["vocab_size"]
vocab = json.load(open(f"{d}/tokenizer.json"))["model"]["vocab"]
tid = vocab[token.replace(" ", "\u0120")]
emb = np.frombuffer(open(f"{d}/embeddings.bin", "rb").read(), dtype=np.float16).reshape(V, H)
e = emb[tid].astype(np.float32)
if mode == "score":
    gate = np.frombuffer(open(f"{d}/gate_vectors.bin", "rb").read(), dtype=np.float16).reshape(L * F, H).astype(np.float32)
    down = np.frombuffer(open(f"{d}/down_features.bin", "rb").read(), dtype=np.float16).reshape(L * F, H).astype(np.float32)
    G = np.concatenate([gate, down])
    cos = (G @ e) / (np.linalg.norm(G, axis=1) * np.linalg.norm(e))
    top = np.argsort(-np.abs(cos))[:20]
    best = [(int(i // F) % L, int(i % F), "gate" if i < L * F else "down", float(cos[i])) for i in top]
else:
    E = emb.astype(np.float32)
    cos = (E @ e) / (np.linalg.norm(E, axis=1) * np.linalg.norm(e) + 1e-30)
    top = np.argsort(-cos)[:11]
    best = [(int(i), float(cos[i])) for i in top]
dt = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"numpy_{mode}_s={dt:.3f} numpy_{mode}_rss_kb={rss} first={best[0]}")
