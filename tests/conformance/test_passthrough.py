"""Pass-through paths (audio, files, fine-tuning events...): bytes and content-encoding are
relayed untouched, and what arrives in pieces is relayed as it arrives.

Account-scoped paths (files, fine-tuning) are tested in open mode only: for team keys
they are a per-team permission, not a faithfulness question. Stateless ones (audio) are
open to team keys and tested in both modes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conformance.compat import assert_answer_faithful, assert_request_faithful
from tests.conformance.harness import Harness, Side
from tests.conformance.replies import compact, gzip_pieces, openai_headers, pretty
from tests.conformance.upstream import Capture, Piece, RecordingUpstream, Reply

SLOW_S = 0.3  # between pieces of a slow answer
FIRST_BYTE_MARGIN_S = 0.5  # the first piece must reach the client this long before the last


def slow(content_type: str, parts: list[bytes]) -> Any:
    """A chunked answer whose pieces leave SLOW_S apart."""
    def script(capture: Capture) -> Reply:
        pieces = [Piece(p, SLOW_S if n else 0.0) for n, p in enumerate(parts)]
        return Reply(200, openai_headers(content_type), pieces, framing="chunked")
    return script


def assert_relayed_as_it_arrived(via: Any) -> None:
    """The client had the first piece well before the upstream sent the last one."""
    assert via.seen.arrivals, "nothing reached the client"
    assert via.seen.arrivals[0] < via.capture.sent_at[-1] - FIRST_BYTE_MARGIN_S, (
        f"first byte {via.seen.arrivals[0] - via.capture.sent_at[0]:.2f} s after the upstream "
        f"sent it; the last piece left {via.capture.sent_at[-1] - via.capture.sent_at[0]:.2f}"
        " s after the first")


def test_audio_speech_streams(harness: Harness, upstream: RecordingUpstream,
                              side: Side) -> None:
    """Chunked audio arriving slowly plays through Wattgate as it would direct."""
    audio = [b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 4]
    audio += [bytes([n]) * 4096 for n in range(1, 6)]
    upstream.script(slow("audio/mpeg", audio))

    def speak(client: Any) -> bytes:
        with client.audio.speech.with_streaming_response.create(
                model="gpt-4o-mini-tts", voice="alloy", input="Hello there.") as response:
            return b"".join(response.iter_bytes())

    direct, via = harness.both("openai", speak)
    assert via.result == direct.result == b"".join(audio)
    assert_relayed_as_it_arrived(via)
    assert_request_faithful(direct.capture, via.capture, mode=side.mode,
                            endpoint="passthrough")
    assert_answer_faithful(direct.seen, via.seen, endpoint="passthrough", stream=True)
    row = side.row(via.request_id)
    assert (row["endpoint"], row["status_code"], row["metered"]) == ("passthrough", 200, False)


def test_ndjson_download_streams(open_harness: Harness, upstream: RecordingUpstream) -> None:
    lines = [compact({"custom_id": f"r{n}", "response": {"status_code": 200}}) + b"\n"
             for n in range(5)]
    upstream.script(slow("application/x-ndjson", lines))
    direct, via = open_harness.both("http", "GET", "/v1/files/file-abc/content")
    assert_relayed_as_it_arrived(via)
    assert_request_faithful(direct.capture, via.capture, mode="open", endpoint="passthrough")
    assert_answer_faithful(direct.seen, via.seen, endpoint="passthrough", stream=True)


def test_sse_on_a_passthrough_path_streams(open_harness: Harness,
                                          upstream: RecordingUpstream) -> None:
    """An event stream on an unmetered path, with bare-CR line ends, arrives as sent."""
    events = [b"data: " + compact({"object": "fine_tuning.job.event", "message": f"step {n}"})
              + b"\r\r" for n in range(4)]
    upstream.script(slow("text/event-stream", [*events, b"data: [DONE]\r\r"]))
    direct, via = open_harness.both("http", "GET",
                                    "/v1/fine_tuning/jobs/ftjob-1/events?stream=true")
    assert_relayed_as_it_arrived(via)
    assert_request_faithful(direct.capture, via.capture, mode="open", endpoint="passthrough")
    assert_answer_faithful(direct.seen, via.seen, endpoint="passthrough", stream=True)


def test_gzip_answer_is_relayed_untouched(open_harness: Harness,
                                          upstream: RecordingUpstream) -> None:
    listing = pretty({"object": "list", "data": [
        {"id": "file-abc", "object": "file", "bytes": 120, "created_at": 0,
         "filename": "batch.jsonl", "purpose": "batch"}], "has_more": False})
    upstream.script(lambda capture: Reply(
        200, [*openai_headers("application/json"), ("Content-Encoding", "gzip")],
        gzip_pieces([Piece(listing)])))
    direct, via = open_harness.both("http", "GET", "/v1/files?purpose=batch",
                                    headers=[("Accept-Encoding", "gzip")])
    assert direct.seen.header("content-encoding") == "gzip"
    assert_request_faithful(direct.capture, via.capture, mode="open", endpoint="passthrough")
    assert_answer_faithful(direct.seen, via.seen, endpoint="passthrough", stream=False)


BOUNDARY = "wattgate-conformance-boundary"
UPLOAD = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
          f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
          f"filename=\"batch.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n"
          "{\"custom_id\": \"r1\"}\n\r\n"
          f"--{BOUNDARY}--\r\n").encode()


def file_object(capture: Capture) -> Reply:
    return Reply(200, openai_headers("application/json"), [Piece(pretty({
        "id": "file-abc", "object": "file", "bytes": len(capture.body), "created_at": 0,
        "filename": "batch.jsonl", "purpose": "batch"}))])


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_file_upload(open_harness: Harness, upstream: RecordingUpstream,
                     chunked: bool) -> None:
    """A multipart upload goes up byte for byte, however the client framed it."""
    upstream.script(file_object)

    def pieces() -> Iterator[bytes]:
        yield from (UPLOAD[i:i + 64] for i in range(0, len(UPLOAD), 64))

    outcomes = [open_harness.http(
        "POST", "/v1/files", via=via, content=pieces() if chunked else UPLOAD,
        headers=[("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")])
        for via in (False, True)]
    direct, via = outcomes
    assert direct.capture.chunked is chunked
    assert via.capture.body == UPLOAD
    assert_request_faithful(direct.capture, via.capture, mode="open", endpoint="passthrough")
    assert_answer_faithful(direct.seen, via.seen, endpoint="passthrough", stream=False)
