"""JSON text as NNI's Node.js manager writes it (``JSON.stringify``), byte for byte.

Clients compare NNI's REST bodies as strings, so the bytes matter, not only the
values: no spaces after ``,`` and ``:``; non-ASCII characters as they are;
numbers as JavaScript prints them (``1.0`` is ``1``, ``1e-7`` not ``1e-07``,
``1e+16`` is ``10000000000000000``); NaN and infinities become ``null``.
Key order is the dict's own.
"""
from __future__ import annotations

import json
import math
import secrets
from typing import Any


def dumps(data: Any) -> str:
    """``data`` as JavaScript's ``JSON.stringify(data)`` would write it."""
    odd: list[str] = []
    nonce = secrets.token_hex(4)
    text = json.dumps(_js_numbers(data, odd, nonce), separators=(",", ":"), ensure_ascii=False)
    for i, number in enumerate(odd):
        text = text.replace(f'"\\u0000{nonce}{i}\\u0000"', number, 1)
    return text


def js_number(value: float) -> str:
    """ECMAScript's Number::toString for a finite float."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exp = repr(abs(value)).partition("e")   # shortest round-trip digits, as JavaScript's
    whole, _, frac = mantissa.partition(".")
    all_digits = whole + frac
    zeros = len(all_digits) - len(all_digits.lstrip("0"))
    n = len(whole) + int(exp or 0) - zeros   # value = 0.<digits> * 10**n
    digits = all_digits[zeros:].rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * -n + digits
    else:
        e = n - 1
        out = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return sign + out


def _js_numbers(data: Any, odd: list[str], nonce: str) -> Any:
    if isinstance(data, float):
        if math.isnan(data) or math.isinf(data):
            return None
        text = js_number(data)
        if text == repr(data):
            return data
        if "." not in text and "e" not in text:
            return int(text)
        odd.append(text)
        return f"\0{nonce}{len(odd) - 1}\0"
    if isinstance(data, dict):
        return {k: _js_numbers(v, odd, nonce) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_js_numbers(v, odd, nonce) for v in data]
    return data
