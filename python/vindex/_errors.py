"""The exceptions: one class per library error code (vindex.h's VX_E*), each carrying the
library's one-line message ("file: place: what was expected") and the code.

Each class also derives from the built-in exception a Python caller would catch for the
same situation (UsageError is a ValueError, NotFoundError a LookupError, ...), so generic
handlers keep working.
"""
from . import _lib


class Error(Exception):
    """Base of every vindex error. `code` is the library's VX_E* value (negative int),
    `message` the library's one-line message (also str(e))."""
    code = None

    def __init__(self, message, code=None):
        """`message` as the library wrote it; `code` defaults to the class's."""
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class SystemCallError(Error, OSError):
    """VX_EIO: a system call failed (open, read, write, mmap, rename)."""
    code = _lib.VX_EIO


class OutOfMemoryError(Error, MemoryError):
    """VX_ENOMEM: an allocation failed."""
    code = _lib.VX_ENOMEM


class UsageError(Error, ValueError):
    """VX_EUSAGE: an invalid argument or option (a wrong vector size, top=0, a layer out of
    range, a malformed feature spec)."""
    code = _lib.VX_EUSAGE


class ClosedError(UsageError):
    """A query or a new view was asked of a Vindex after close(). Views made before close
    stay valid (see Vindex.close)."""


class CorruptError(Error):
    """VX_ECORRUPT: input bytes violate their format (a damaged vindex or checkpoint)."""
    code = _lib.VX_ECORRUPT


class UnsupportedError(Error):
    """VX_EUNSUPPORTED: well-formed input this version cannot handle (an unknown
    architecture, a newer format version, a vindex part)."""
    code = _lib.VX_EUNSUPPORTED


class NotFoundError(Error, LookupError):
    """VX_ENOTFOUND: a file, tensor, token or feature does not exist. For a word the
    vocabulary does not hold as one token the message lists the tokenizer's pieces."""
    code = _lib.VX_ENOTFOUND


class ExistsError(Error):
    """VX_EEXIST: the output exists and overwriting was not requested (extract: force=True)."""
    code = _lib.VX_EEXIST


class MismatchError(Error):
    """VX_EMISMATCH: a difference was found (compare: too few shared tokens). verify()
    reports problems in its result instead of raising this."""
    code = _lib.VX_EMISMATCH


class Interrupted(Error):
    """VX_EINTERRUPTED: an extraction was stopped (its progress callback raised or returned
    False); nothing was written at the output."""
    code = _lib.VX_EINTERRUPTED


BY_CODE = {c.code: c for c in (SystemCallError, OutOfMemoryError, UsageError, CorruptError, UnsupportedError,
                               NotFoundError, ExistsError, MismatchError, Interrupted)}


def from_code(code, message=None):
    """The exception for library code `code` with `message` (the library's description of
    the code when the message is empty)."""
    cls = BY_CODE.get(code, Error)
    if not message:
        s = _lib.strerror(code)
        message = s.decode() if s else f"error {code}"
    return cls(message, code)


def check(rc, err):
    """Raise the exception for a non-zero library result `rc`, with err's message."""
    if rc != _lib.VX_OK:
        raise from_code(rc, err.msg.decode("utf-8", "replace"))
