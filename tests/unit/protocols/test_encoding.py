"""Compressed request bodies: decoded within the size limit, refused cleanly otherwise."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest

from proxy.encoding import ZstdDecompressor, decode_body
from proxy.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

BODY = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}'


def zstd(data: bytes) -> bytes:
    try:
        from compression.zstd import compress  # type: ignore[import-not-found]
    except ImportError:
        from backports.zstd import compress
    assert ZstdDecompressor  # the decoder the gateway uses is importable
    return compress(data)


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda d: zlib.compress(d)[2:-4]),  # raw deflate, as some clients send
        ("br", brotli.compress),
        ("zstd", zstd),
        ("identity", lambda d: d),
    ],
)
def test_each_coding_decodes(coding: str, encode) -> None:
    assert decode_body(encode(BODY), coding.encode(), 1 << 20) == BODY


def test_stacked_codings_are_undone_last_first() -> None:
    data = brotli.compress(gzip.compress(BODY))
    assert decode_body(data, b"gzip, br", 1 << 20) == BODY


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_a_small_body_cannot_expand_past_the_limit(coding: str) -> None:
    bomb = b"0" * 5_000_000
    encoded = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress,
               "zstd": zstd}[coding](bomb)
    assert len(encoded) < 100_000
    with pytest.raises(PayloadTooLarge):
        decode_body(encoded, coding.encode(), 1_000_000)


def test_unknown_coding_is_415() -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        decode_body(BODY, b"compress", 1 << 20)
    assert info.value.status == 415


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_garbage_and_truncated_bodies_are_400(coding: str) -> None:
    with pytest.raises(BadRequest):
        decode_body(b"not compressed at all", coding.encode(), 1 << 20)
    whole = {"gzip": gzip.compress, "br": brotli.compress, "zstd": zstd}[coding](BODY * 50)
    with pytest.raises(BadRequest):
        decode_body(whole[: len(whole) // 2], coding.encode(), 1 << 20)
