"""OpenTelemetry: one span per call with the GenAI conventions and the impacts, no text."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import openai
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from proxy.telemetry import CallTracer
from tests.integration.conftest import GatewayFactory
from tests.rows import fetch_rows
from tests.servers import Gateway

PROMPT = "a distinctive prompt about tulips"


def traced(gateway: Gateway) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    runtime = gateway.app.runtime
    assert runtime is not None
    runtime.recorder.tracer = CallTracer.exporting_to(exporter, batch=False)
    return exporter


def test_a_span_per_call_with_usage_and_impacts(
    make_gateway: GatewayFactory, sqlite_url: str
) -> None:
    gateway = make_gateway()
    exporter = traced(gateway)
    client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.create_team_key("search"),
                           max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": PROMPT}])
    list(client.chat.completions.create(model="gpt-4o", stream=True,
                                        messages=[{"role": "user", "content": PROMPT}]))
    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model="text-embedding-3-small", input=PROMPT,
                                 extra_headers={"x-mock-status": "500"})
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["chat gpt-4o", "chat gpt-4o",
                                      "embeddings text-embedding-3-small"]
    gateway.wait_written()
    rows = fetch_rows(sqlite_url, 3)
    plain = spans[0].attributes
    assert plain["gen_ai.operation.name"] == "chat"
    assert plain["gen_ai.provider.name"] == plain["gen_ai.system"] == "openai"
    assert plain["gen_ai.request.model"] == "gpt-4o"
    assert plain["wattgate.request_id"] == raw.headers["x-request-id"]
    assert plain["gen_ai.usage.input_tokens"] == rows[0]["input_tokens"] > 0
    assert plain["gen_ai.usage.output_tokens"] == rows[0]["output_tokens"] > 0
    assert plain["wattgate.energy_wh"] == pytest.approx(rows[0]["energy_wh"])
    assert plain["wattgate.energy_wh.min"] <= plain["wattgate.energy_wh"] <= plain[
        "wattgate.energy_wh.max"]
    assert spans[1].attributes["gen_ai.request.stream"] is True
    assert spans[1].attributes["gen_ai.response.time_to_first_chunk"] > 0
    failed = spans[2]
    assert failed.status.status_code.name == "ERROR"
    assert failed.attributes["http.response.status_code"] == 500
    assert "wattgate.energy_wh" not in failed.attributes
    for span in spans:  # never the text
        assert all(PROMPT not in str(value) for value in span.attributes.values())


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A loopback OTLP/HTTP endpoint that keeps what it receives."""
    received: list[tuple[str, str, bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()


def test_spans_reach_an_otlp_collector(make_gateway: GatewayFactory, collector) -> None:
    endpoint, received = collector
    gateway = make_gateway(WATTGATE_OTEL_ENDPOINT=endpoint)
    client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.create_team_key("search"),
                           max_retries=0)
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PROMPT}])
    gateway.stop()  # a clean shutdown exports what is buffered
    assert received, "no export reached the collector"
    path, content_type, body = received[0]
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    export = ExportTraceServiceRequest.FromString(body)
    spans = [s for r in export.resource_spans for ss in r.scope_spans for s in ss.spans]
    assert [s.name for s in spans] == ["chat gpt-4o"]
    attributes = {a.key: a.value for a in spans[0].attributes}
    assert attributes["gen_ai.usage.output_tokens"].int_value > 0
    assert attributes["wattgate.energy_wh"].double_value > 0
    resource = {a.key: a.value.string_value for a in export.resource_spans[0].resource.attributes}
    assert resource["service.name"] == "wattgate"
    assert PROMPT.encode() not in body
