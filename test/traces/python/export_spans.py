"""A program traced with the official OpenTelemetry Python SDK, exporting over OTLP/HTTP protobuf
(opentelemetry-exporter-otlp-proto-http's default) to wherever the standard environment says:
OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME and, optionally,
OTEL_EXPORTER_OTLP_COMPRESSION. Nothing here is msctl-specific: it is what a user's own service does.

Prints {"traceId": ..., "spans": [...names]} and exits 1 when an export was not accepted.
"""

import json
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


class Recording(SpanExporter):
    """The SDK's exporter, remembering each export's result (the SDK only logs a failure)."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.results: list[SpanExportResult] = []

    def export(self, spans):
        result = self.inner.export(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


def main() -> int:
    exporter = Recording(OTLPSpanExporter())
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("msctl-python-interop")

    with tracer.start_as_current_span("python checkout", kind=trace.SpanKind.SERVER, attributes={"order.items": 3, "order.total": 41.5, "order.express": True}) as root:
        with tracer.start_as_current_span("python charge card", kind=trace.SpanKind.CLIENT) as child:
            child.set_status(trace.Status(trace.StatusCode.ERROR, "card declined"))
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()

    print(json.dumps({"traceId": trace_id, "results": [result.name for result in exporter.results]}))
    accepted = len(exporter.results) == 2 and all(result is SpanExportResult.SUCCESS for result in exporter.results)
    return 0 if accepted else 1


if __name__ == "__main__":
    sys.exit(main())
