"""Request bodies sent with `Content-Encoding`: decoded to read them, never beyond the size limit.

The gateway reads `model` and `stream` from a metered call's JSON body, so a body the
client compressed (gzip, deflate, br or zstd, or several in a row) is decoded first.
Decoding stops as soon as the output passes the body limit, so a small compressed body
cannot expand into gigabytes. What goes upstream is decided elsewhere: the body as the
client sent it when the gateway changes nothing, or the changed JSON, uncompressed.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import brotli

from proxy.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

try:  # Python 3.14+
    from compression.zstd import ZstdDecompressor, ZstdError  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the Python version
    from backports.zstd import ZstdDecompressor, ZstdError

_CHUNK = 64 * 1024  # compressed bytes fed per step


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request body is larger than the {limit}-byte limit once decoded.")


def _zlib(data: bytes, limit: int, wbits: int) -> bytes:
    decoder = zlib.decompressobj(wbits)
    out = decoder.decompress(data, limit + 1)
    if len(out) > limit or decoder.unconsumed_tail:  # checked before flush(), which is unbounded
        raise _too_large(limit)
    out += decoder.flush()
    if len(out) > limit:
        raise _too_large(limit)
    if not decoder.eof:
        raise zlib.error("truncated data")
    return out


def _gzip(data: bytes, limit: int) -> bytes:
    return _zlib(data, limit, 16 + zlib.MAX_WBITS)


def _deflate(data: bytes, limit: int) -> bytes:
    # HTTP's "deflate" is zlib-wrapped, but some clients send raw deflate: accept both.
    try:
        return _zlib(data, limit, zlib.MAX_WBITS)
    except zlib.error:
        return _zlib(data, limit, -zlib.MAX_WBITS)


def _br(data: bytes, limit: int) -> bytes:
    decoder = brotli.Decompressor()
    parts: list[bytes] = []
    size = 0

    def take(out: bytes) -> bool:
        nonlocal size
        size += len(out)
        if size > limit:
            raise _too_large(limit)
        parts.append(out)
        return bool(out)

    for start in range(0, len(data), _CHUNK):
        take(decoder.process(data[start : start + _CHUNK], output_buffer_limit=_CHUNK))
        while not decoder.can_accept_more_data():
            take(decoder.process(b"", output_buffer_limit=_CHUNK))
    while not decoder.is_finished() and take(decoder.process(b"", output_buffer_limit=_CHUNK)):
        pass
    if not decoder.is_finished():
        raise brotli.error("truncated brotli stream")
    return b"".join(parts)


def _zstd(data: bytes, limit: int) -> bytes:
    decoder = ZstdDecompressor()
    out = decoder.decompress(data, limit + 1)
    if len(out) > limit or not (decoder.eof or decoder.needs_input):
        raise _too_large(limit)
    if not decoder.eof:
        raise EOFError("truncated zstd stream")
    return out


_DECODERS: dict[str, Callable[[bytes, int], bytes]] = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
    "br": _br,
    "zstd": _zstd,
}


def decode_body(body: bytes, content_encoding: bytes, limit: int) -> bytes:
    """`body` with every coding of `content_encoding` undone (last applied, first undone).

    Raises `UnsupportedMediaType` (415) for a coding it does not know, `BadRequest` (400)
    for a body that does not decode, `PayloadTooLarge` (413) past `limit` bytes.
    """
    codings = [c.strip().lower() for c in content_encoding.decode("latin-1").split(",")]
    for coding in reversed([c for c in codings if c and c != "identity"]):
        decoder = _DECODERS.get(coding)
        if decoder is None:
            raise UnsupportedMediaType(
                f"Content-Encoding {coding!r} is not supported "
                f"(use one of {', '.join(sorted(_DECODERS))})."
            )
        try:
            body = decoder(body, limit)
        except PayloadTooLarge:
            raise
        except (zlib.error, brotli.error, ZstdError, EOFError, ValueError) as exc:
            raise BadRequest(f"Request body is not valid {coding} data: {exc}") from None
    return body
