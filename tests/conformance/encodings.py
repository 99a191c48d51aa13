"""HTTP content codings for request and response bodies: gzip, deflate, br, zstd.

gzip and deflate (zlib-wrapped, RFC 9110 section 8.4.1.2) come from the standard library.
Brotli and Zstandard do not, so the bodies the tests send with those codings are fixed
here, made once with `brotli.compress(body)` and `zstandard.ZstdCompressor(level=3)
.compress(body)` (pip install brotli zstandard); the tests then need neither library.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib

CODINGS = ("gzip", "deflate", "br", "zstd")

_MESSAGES = [{"role": "user", "content": "Say hello."}]
PLAIN = json.dumps({"model": "gpt-4o-mini", "messages": _MESSAGES},
                   separators=(",", ":")).encode()
PLAIN_STREAM = json.dumps({"model": "gpt-4o-mini", "messages": _MESSAGES, "stream": True},
                          separators=(",", ":")).encode()

_FIXED = {
    ("br", PLAIN): "G0oA6C0K7AbtHp0WFs7pVr4hSpGtvaYJe4PTU11nfYpFp0Va6PI6xonAdj2M6wA2bMAptSzZB"
                   "GN41IsaxxDVJqPaQjLCn++JHQ==",
    ("zstd", PLAIN): "KLUv/SBLPQIAssQQGJC1OmQtqh0gGwS2ygZ+S30Q92HIGbmfEu94HjTzAGFwCqPbeluKuJh9B"
                     "UY/ldkZ6D06u1cuTispo4RpAWR0PlFlFwA=",
    ("br", PLAIN_STREAM): "G1gA4CwK7NZgP5SJidx4M7+UjlDpLbK31bdpwt7g5NRZX+qwdLVIC11epxy4h2VtNf9u"
                          "B7AnSFRKj2imgAe9qJkqjcPSanARdcDP8FmfBILj",
    ("zstd", PLAIN_STREAM): "KLUv/SBZjQIAkkUTGnBp0wEm399Vuh3IfgomoBHQc/8R9mX//70BS5OVdjpdiRvCMuA"
                            "Q6qFIHMF2qqa6wuZVTLaLbq0MbOxxEJs2IwpJxgWMRBzbqIZLKwEA",
}
_PLAIN_OF = {(coding, base64.b64decode(data)): plain for (coding, plain), data in _FIXED.items()}


def encode(coding: str, body: bytes) -> bytes:
    """`body` in `coding`; br and zstd only for the fixed bodies above."""
    if coding == "gzip":
        return gzip.compress(body, mtime=0)
    if coding == "deflate":
        return zlib.compress(body)
    return base64.b64decode(_FIXED[coding, body])


def decode(coding: str | None, data: bytes) -> bytes:
    """`data` with `coding` undone (identity and unknown codings: as is)."""
    coding = (coding or "").strip().lower()
    if coding in ("gzip", "x-gzip"):
        return gzip.decompress(data)
    if coding == "deflate":
        return zlib.decompress(data)
    return _PLAIN_OF.get((coding, data), data)
