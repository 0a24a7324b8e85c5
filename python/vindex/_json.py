"""JSON text exactly as the vindex command prints it (cJSON_PrintUnformatted), so that a
result's to_json() is byte for byte the CLI's --json line.

cJSON writes a number that equals its int conversion as an integer, and any other finite
number with 15 significant digits when those read back within one part in 2^52, else with
17; NaN and infinities as null. Strings are the UTF-8 bytes with '"', '\\' and control
characters escaped. Objects keep insertion order; no spaces.
"""
import math
import sys

_INT_MAX, _INT_MIN = 2 ** 31 - 1, -2 ** 31
_EPS = sys.float_info.epsilon
_ESC = {0x22: b'\\"', 0x5C: b"\\\\", 0x08: b"\\b", 0x0C: b"\\f", 0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t"}


def _number(d):
    d = float(d)
    if math.isnan(d) or math.isinf(d):
        return b"null"
    vi = _INT_MAX if d >= _INT_MAX else _INT_MIN if d <= _INT_MIN else int(d)
    if d == float(vi):
        return b"%d" % vi
    s = "%1.15g" % d
    t = float(s)
    if not abs(t - d) <= max(abs(t), abs(d)) * _EPS:
        s = "%1.17g" % d
    return s.encode()


def _string(s):
    b = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else bytes(s)
    out = bytearray(b'"')
    for c in b:
        if c in _ESC:
            out += _ESC[c]
        elif c < 0x20:
            out += b"\\u%04x" % c
        else:
            out.append(c)
    out += b'"'
    return bytes(out)


def _dump(x, out):
    if x is None:
        out.append(b"null")
    elif x is True:
        out.append(b"true")
    elif x is False:
        out.append(b"false")
    elif isinstance(x, (int, float)):
        out.append(_number(x))
    elif isinstance(x, (str, bytes)):
        out.append(_string(x))
    elif isinstance(x, dict):
        out.append(b"{")
        for i, (k, v) in enumerate(x.items()):
            if i:
                out.append(b",")
            out.append(_string(k))
            out.append(b":")
            _dump(v, out)
        out.append(b"}")
    elif isinstance(x, (list, tuple)):
        out.append(b"[")
        for i, v in enumerate(x):
            if i:
                out.append(b",")
            _dump(v, out)
        out.append(b"]")
    else:
        try:
            _dump(float(x) if not hasattr(x, "item") else x.item(), out)
        except (TypeError, ValueError):
            raise TypeError(f"cannot print {type(x).__name__} as JSON") from None


def dumps(obj):
    """The JSON text of `obj` (dicts, lists, str, numbers, bool, None) as bytes, exactly as
    the vindex command prints it (without the final newline)."""
    out = []
    _dump(obj, out)
    return b"".join(out)
