"""extract: build a vindex from a checkpoint in process, with a progress callback that
can stop it (vx_extract, include/vindex.h)."""
import ctypes
import warnings
from ctypes import byref

from . import _lib
from ._errors import check
from ._index import _count, _enc, _err, blas_lock
from ._results import Progress


def extract(src, out, *, features=128, top_k=16, force=False, revision=None, threads=0, unembed=False, progress=None,
            warn=None):
    """Build a vindex at `out` from the checkpoint `src` (a directory, or a Hub repo id
    resolved offline in the local Hugging Face cache), as `vindex extract` does: written
    to a temporary directory, fsynced and renamed; on failure nothing is left at `out`.

    features: SVD directions per layer and kind (capped at the rank, with a warning);
    top_k: vocabulary projections kept per sign; force: replace an existing `out`;
    revision: Hub revision; threads: worker threads (0 = every CPU); unembed: keep an
    untied model's unembedding (lm_head) as unembed.bin (format version 2).
    progress: called on this thread as progress(Progress) while it works; returning False,
      or raising (KeyboardInterrupt included), stops the extraction, which then removes its
      temporary directory and raises Interrupted (or re-raises the callback's exception).
    warn: called with each warning's text (default: warnings.warn, RuntimeWarning).
    Returns `out`. Raises ExistsError, NotFoundError, CorruptError, UnsupportedError,
    SystemCallError, OutOfMemoryError, UsageError, Interrupted."""
    o = _lib.vx_extract_opts()
    _lib.extract_opts_init(byref(o))
    o.features = _count("features", features, 1, 65536)
    o.top_k = _count("top_k", top_k, 1, 4096)
    o.threads = _count("threads", threads, 0, 1024)
    o.force = 1 if force else 0
    o.unembed = 1 if unembed else 0
    srcb, outb = _enc(src), _enc(out)
    revb = _enc(revision) if revision is not None else None
    o.src, o.out, o.revision = srcb, outb, revb
    stop = ctypes.c_int(0)
    raised = []

    @_lib.PROGRESS_FN
    def on_progress(ctx, p):
        # Called with the GIL taken by ctypes; the library keeps going until `stop` is set.
        if stop.value or progress is None:
            return
        try:
            c = p.contents
            if progress(Progress(c.phase.decode(), c.layer, c.num_layers, c.done, c.total)) is False:
                stop.value = 1
        except BaseException as e:  # noqa: B902 - KeyboardInterrupt must stop the extraction too
            raised.append(e)
            stop.value = 1

    @_lib.MESSAGE_FN
    def on_warn(ctx, msg):
        text = msg.decode("utf-8", "replace")
        try:
            if warn is None:
                warnings.warn(text, RuntimeWarning, stacklevel=3)
            else:
                warn(text)
        except BaseException as e:  # noqa: B902
            raised.append(e)
            stop.value = 1

    o.progress, o.warn, o.interrupt = on_progress, on_warn, ctypes.pointer(stop)
    err = _err()
    with blas_lock:
        rc = _lib.extract(byref(o), byref(err))
    if raised and rc == _lib.VX_EINTERRUPTED:
        raise raised[0]
    check(rc, err)
    return out
