"""vindex — the weights of a transformer as memory-mapped arrays, and questions about them
answered in milliseconds, from Python.

A thin binding (ctypes) over libvindex, the library behind the `vindex` command; numpy is
its only dependency. What each query computes is spec/queries.md and spec/compare.md in
the source tree; the numbers are the library's, identical to `vindex ... --json`.

Open a vindex and look at its arrays — read-only numpy views of the mapped files, no copy,
no read until a page is touched:

    >>> import vindex
    >>> vx = vindex.open("qwen3-8b.vindex")
    >>> vx.gate.shape, vx.gate.dtype          # [L, F, H] float16
    ((36, 128, 4096), dtype('float16'))
    >>> e = vx.embeddings[vx.token_id(" Paris")]   # one row: one page touched

Ask questions (each a C call with the GIL released):

    >>> r = vx.score(" Paris", top=5)         # features aligned with a token
    >>> r.results[0].layer, r.results[0].cosine
    >>> vx.nearest(feature="20:7:down", tokens=10)
    >>> vx.describe("20:7:down")
    >>> vx.score([" Paris", " Berlin"])       # a batch: one BLAS pass, a list of results
    >>> vx.nearest(np.random.randn(4096))     # any vector (H,), or (n, H)
    >>> vindex.compare("small.vindex", "large.vindex")   # dict, as --json prints
    >>> vindex.verify("qwen3-8b.vindex").ok
    >>> vindex.extract("~/models/Qwen3-8B", "out.vindex", progress=print)

Tokens are given as the CLI takes them: a raw vocabulary string ("ĠParis"), readable text
(" Paris"), "#123" or an int id; text=True splits text with the model's tokenizer and
uses the mean of the pieces' embeddings. Every result has to_dict(), the object the CLI's
--json prints, and to_json(), its exact bytes.

Errors are vindex.Error subclasses, one per library error code, each carrying the
library's message: SystemCallError, OutOfMemoryError, UsageError (and ClosedError),
CorruptError, UnsupportedError, NotFoundError, ExistsError, MismatchError, Interrupted.

Lifetime: closing a Vindex (close(), or leaving its with-block) makes its queries raise
ClosedError; views already made stay valid, and the files are unmapped when the last of
them is gone (at once when there is none).

Threads: a Vindex may be queried from several threads at once; the GIL is released during
every library call, so queries on different threads run in parallel. compare, extract
and batched queries take a process-wide lock around OpenBLAS, whose thread count is
global.

The library is found at $VINDEX_LIB, in the source tree's build/ when this package runs
from the tree, through the dynamic loader (libvindex.so.0), or where `make install` put
it; vindex.library_path says which was loaded.
"""
from . import _lib
from ._compare import compare
from ._errors import (ClosedError, CorruptError, Error, ExistsError, Interrupted, MismatchError, NotFoundError,
                      OutOfMemoryError, SystemCallError, UnsupportedError, UsageError)
from ._extract import extract
from ._index import Feature, Vindex, content_digest, open, verify
from ._results import (CompareResult, DescribeResult, FeatureHit, NearestResult, Progress, Projection, Query,
                       ScoreResult, TokenHit, VerifyResult, WeightStats)

__version__ = "0.1.0"
library_path = _lib.path

__all__ = ["open", "Vindex", "Feature", "verify", "compare", "extract", "content_digest", "Error", "SystemCallError",
           "OutOfMemoryError", "UsageError", "ClosedError", "CorruptError", "UnsupportedError", "NotFoundError",
           "ExistsError", "MismatchError", "Interrupted", "ScoreResult", "NearestResult", "DescribeResult",
           "VerifyResult", "CompareResult", "FeatureHit", "TokenHit", "Projection", "Query", "Progress",
           "WeightStats", "library_path"]
