"""The HTTP headers daprd sends an app with a delivered message: its metadata.

daprd puts the message's metadata (the publish metadata pubsub.redis stored with the event,
plus ``pubsubName``) on the request to the app (``postman/http`` ``WithCustomHTTPMetadata``,
then ``messaging/v1`` ``InternalMetadataToHTTPHeader`` and the HTTP channel), so that every
``metadata.X`` of the publish reaches the subscriber as header ``x``. On the way it:

- lowercases the names (``pubsubName`` arrives as ``pubsubname``);
- leaves out ``content-type`` and ``content-length`` (the request has its own), names ending
  in ``-bin``, ``destination-app-id``, ``host`` (Go's client writes its own), the hop-by-hop
  headers and those that a ``connection`` entry names;
- renames ``grpc-*`` to ``dapr-grpc-*`` and ``:method``, ``:scheme``, ``:path``,
  ``:authority`` to ``dapr-method`` ...;
- sends ``traceparent``, and ``tracestate`` only with it, as given (the event's own trace
  field then replaces ``traceparent``: ``_subscriber``). Under a ``content-type`` of
  ``application/grpc`` daprd reads them from ``grpc-trace-bin`` instead, which is not decoded
  here: such a message gets neither.

Two names that differ only in case become one header; Go sends each value on its own line,
here they are joined with ``", "``, which HTTP reads as the same list.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["delivery_headers"]

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                         "upgrade", "http2-settings", "te", "trailer", "proxy-authorization",
                         "proxy-authenticate"})
_DROPPED = frozenset({"content-type", "content-length", "destination-app-id", "host",
                      "traceparent", "tracestate"})
_PSEUDO = frozenset({":method", ":scheme", ":path", ":authority"})


def delivery_headers(metadata: Mapping[str, str]) -> dict[str, str]:
    """The headers for ``metadata``, without the request's own ``content-type``."""
    lowered = [(name.lower(), value) for name, value in metadata.items()]
    nominated = {token.strip().lower() for name, value in lowered if name == "connection"
                 for token in value.split(",")}
    headers: dict[str, list[str]] = {}
    for name, value in lowered:
        if name in _DROPPED or name.endswith("-bin") or (name != "baggage" and (
                name in _HOP_BY_HOP or name in nominated)):  # daprd passes baggage first
            continue
        if name in _PSEUDO:
            name = "dapr-" + name[1:]
        elif name.startswith("grpc-"):
            name = "dapr-" + name
        headers.setdefault(name, []).append(value)
    trace = dict(lowered)
    if trace.get("traceparent") and not metadata.get("content-type", "").startswith(
            "application/grpc"):
        headers["traceparent"] = [trace["traceparent"]]
        if trace.get("tracestate"):
            headers["tracestate"] = [trace["tracestate"]]
    return {name: ", ".join(values) for name, values in headers.items()}
