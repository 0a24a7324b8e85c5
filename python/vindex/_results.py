"""Query results: small frozen dataclasses holding plain values (nothing in them points
into a vindex, so they outlive it). Each has to_dict(), the object the CLI's --json prints
for the same query (spec/queries.md), with the same numbers: cosines are the library's f32
values widened to Python floats, exactly as the CLI widens them before printing.
"""
import math
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from ._json import dumps


class _Json:
    """to_json(): the CLI's --json text of this result, byte for byte (bytes, no newline)."""

    def to_json(self):
        return dumps(self.to_dict())


def jsonable(x):
    """x with every non-finite float replaced by None, as the CLI's JSON prints them (null)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    return x


@dataclass(frozen=True)
class FeatureHit(_Json):
    """One feature of a ranking: `layer`, `feature` (index in the layer), `kind` ("gate" or
    "down"), `cosine` (signed). In score results also `sigma` (its singular value) and
    `top_tokens` (raw strings of its top vocabulary projections at the end the cosine's
    sign points to); None elsewhere."""
    layer: int
    feature: int
    kind: str
    cosine: float
    sigma: Optional[float] = None
    top_tokens: Optional[Tuple[str, ...]] = None

    def to_dict(self):
        d = {"layer": self.layer, "feature": self.feature, "kind": self.kind, "cosine": self.cosine}
        if self.sigma is not None:
            d["sigma"] = self.sigma
            d["top_tokens"] = list(self.top_tokens)
        return jsonable(d)


@dataclass(frozen=True)
class TokenHit(_Json):
    """One token of a ranking: `token_id`, `token` (raw vocabulary string), `cosine`."""
    token_id: int
    token: str
    cosine: float

    def to_dict(self):
        return jsonable({"token": self.token, "token_id": self.token_id, "cosine": self.cosine})


@dataclass(frozen=True)
class Projection(_Json):
    """One vocabulary projection of a feature: `token_id`, `token` (raw), `value`."""
    token_id: int
    token: str
    value: float

    def to_dict(self):
        return jsonable({"token": self.token, "token_id": self.token_id, "value": self.value})


@dataclass(frozen=True)
class Query:
    """Where a query direction came from. `token`/`token_id` for a single token (raw string
    and id); for text, `token` is the text and `pieces` the ids whose embeddings were
    averaged; for a feature, `feature` = (layer, feature, kind); for a vector, all None."""
    token: Optional[str] = None
    token_id: Optional[int] = None
    pieces: Optional[Tuple[int, ...]] = None
    feature: Optional[Tuple[int, int, str]] = None

    def to_dict(self):
        d = {"token": self.token if self.token is not None else "", "token_id": self.token_id}
        if self.pieces is not None:
            d["pieces"] = list(self.pieces)
        return d


@dataclass(frozen=True)
class ScoreResult(_Json):
    """Result of Vindex.score for one query: `query` (a Query) and `results`, the ranked
    FeatureHits (best first)."""
    query: Query
    results: List[FeatureHit] = field(default_factory=list)

    def to_dict(self):
        """`vindex score --json`'s object: {"token", "token_id", ["pieces"], "results"}."""
        d = self.query.to_dict()
        d["results"] = [h.to_dict() for h in self.results]
        return d


@dataclass(frozen=True)
class NearestResult(_Json):
    """Result of Vindex.nearest for one query: `query` (a Query), `tokens` (TokenHits by
    cosine, largest first) and `features` (FeatureHits by |cosine|)."""
    query: Query
    tokens: List[TokenHit] = field(default_factory=list)
    features: List[FeatureHit] = field(default_factory=list)

    def to_dict(self):
        """`vindex nearest --json`'s object: {"tokens", "features"} (a --batch entry adds
        "query", the line as given)."""
        return {"tokens": [t.to_dict() for t in self.tokens], "features": [f.to_dict() for f in self.features]}


@dataclass(frozen=True)
class DescribeResult(_Json):
    """Result of Vindex.describe: the feature (`layer`, `feature`, `kind`), its `sigma`,
    `top_positive` / `top_negative` Projections, `nearest_tokens` (TokenHits) and
    `similar_features` (FeatureHits of the neighbouring layers by |cosine|)."""
    layer: int
    feature: int
    kind: str
    sigma: float
    top_positive: List[Projection]
    top_negative: List[Projection]
    nearest_tokens: List[TokenHit]
    similar_features: List[FeatureHit]

    def to_dict(self):
        """`vindex describe --json`'s object."""
        return jsonable({"layer": self.layer, "feature": self.feature, "kind": self.kind, "sigma": self.sigma,
                         "top_positive": [p.to_dict() for p in self.top_positive],
                         "top_negative": [p.to_dict() for p in self.top_negative],
                         "nearest_tokens": [t.to_dict() for t in self.nearest_tokens],
                         "similar_features": [f.to_dict() for f in self.similar_features]})


@dataclass(frozen=True)
class VerifyResult(_Json):
    """Result of verify: `path`, `ok` (every byte and fact holds), `problems`, one line
    "FILE: problem" each, and `content_digest` (spec §9 R-B6; None unless ok). Truthy when
    ok."""
    path: str
    ok: bool
    problems: List[str]
    content_digest: Optional[str] = None

    def __bool__(self):
        return self.ok

    def to_dict(self):
        """`vindex verify --json`'s object: {"path", "ok", ["content_digest"], "problems"}."""
        d = {"path": self.path, "ok": self.ok}
        if self.content_digest is not None:
            d["content_digest"] = self.content_digest
        d["problems"] = list(self.problems)
        return d


@dataclass(frozen=True)
class WeightStats:
    """Whole-matrix statistics of one MLP matrix (format version 2, spec §9 R-B3): `rows`,
    `cols`, Frobenius norm `fro`, and `sparsity`, the fractions of entries with |w| below
    1e-6, 1e-4, 1e-3, 1e-2, 1e-1."""
    rows: int
    cols: int
    fro: float
    sparsity: Tuple[float, float, float, float, float]


@dataclass(frozen=True)
class Progress:
    """What an extraction's progress callback receives: `phase` ("read", "svd", "project",
    "write", "hash"), `layer` (-1 when not per layer), `num_layers`, and `done` of `total`
    units of work in this phase."""
    phase: str
    layer: int
    num_layers: int
    done: int
    total: int


class CompareResult(_Json, dict):
    """Result of vindex.compare: the dictionary `vindex compare --json` prints (keys as in
    spec/compare.md: "shared_tokens", "cosine", "baseline", "layers", ...), with attribute
    access to its keys (r.cosine["mean"]) and the layer-similarity matrices as numpy arrays
    (`gate_sim`, `down_sim`: [layers_a, layers_b] float64)."""

    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k) from None

    @property
    def gate_sim(self):
        import numpy as np
        return np.array(self["layers"]["gate"], dtype=np.float64).reshape(self["layers"]["layers_a"], -1)

    @property
    def down_sim(self):
        import numpy as np
        return np.array(self["layers"]["down"], dtype=np.float64).reshape(self["layers"]["layers_a"], -1)

    def to_dict(self):
        """A plain dict copy (what the CLI prints)."""
        return dict(self)
