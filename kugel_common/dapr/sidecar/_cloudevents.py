"""The CloudEvent daprd wraps around a published body, and the metadata that shapes it.

Read from dapr pkg/runtime/pubsub/cloudevents.go (NewCloudEvent), pkg/api/http/util.go
(ConvertEventToBytes, for bulk entries) and components-contrib v1.18.4: pubsub/envelope.go
(NewCloudEventsEnvelope, FromCloudEvent, ApplyMetadata), contenttype/utils.go and
metadata/utils.go (IsRawPayload, TryGetTTL).
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ._go import MAX_NANOS, go_bool, go_duration_nanos
from ._gojson import go_decode, go_fields, go_marshal

__all__ = ["CloudEventError", "EventError", "MetadataError", "entry_body", "media_type",
           "new_envelope", "raw_payload"]


class MetadataError(ValueError):
    """``rawPayload`` that Go's ParseBool refuses (400 ERR_PUBSUB_REQUEST_METADATA)."""


class CloudEventError(ValueError):
    """A cloudevents+json body that is not a JSON object (500 ERR_PUBSUB_CLOUD_EVENTS_SER)."""


class EventError(ValueError):
    """A bulk entry whose event does not fit its content type (400 ERR_PUBSUB_EVENTS_SER)."""


def raw_payload(metadata: Mapping[str, str]) -> bool:
    """``metadata.rawPayload``, the key exactly as written; empty or absent is false."""
    value = metadata.get("rawPayload", "")
    try:
        return go_bool(value) if value else False
    except ValueError:  # components-contrib metadata.IsRawPayload's message, quotes and all
        raise MetadataError(
            f"rawPayload value must be a valid boolean: actual is '{value}'") from None


def media_type(content_type: str) -> str:
    """contenttype.isContentType: compared in lower case, parameters after ``;`` ignored."""
    return content_type.lower().split(";", 1)[0]


_MISMATCH = "error: mismatch between contentType and event"  # daprd's errContentTypeMismatch


def entry_body(event: Any, content_type: str) -> bytes:
    """ConvertEventToBytes: a bulk entry's event as the bytes daprd publishes. Only
    octet-stream (base64 text), text/* and application/xml (a string), and application/json
    and cloudevents+json (any JSON) are accepted."""
    kind = media_type(content_type)
    if kind == "application/octet-stream":
        if not isinstance(event, str):
            raise EventError(_MISMATCH)
        try:  # Go's StdEncoding skips line breaks and wants the padding
            return base64.b64decode(event.replace("\r", "").replace("\n", ""), validate=True)
        except ValueError as exc:  # binascii.Error, or a character that is not ASCII
            raise EventError("error: unable to decode base64 application/octect-stream data: "
                             "illegal base64 data") from exc  # daprd's words, typo included
    if content_type.lower().startswith("text/") or kind == "application/xml":
        if not isinstance(event, str):
            raise EventError(_MISMATCH)
        return event.encode()
    if kind in ("application/json", "application/cloudevents+json"):
        return go_marshal(event)
    raise EventError(_MISMATCH)  # no other content type is supported


# The metadata keys that override an envelope's fields; mapstructure matches them as Go's JSON
# decoder matches field names, whatever their case.
_OVERRIDES = tuple(f"cloudevent.{name}" for name in ("id", "traceid", "tracestate", "source",
                                                       "type", "traceparent", "subject"))


def new_envelope(*, app_id: str, pubsub: str, topic: str, body: bytes, content_type: str,
                 metadata: Mapping[str, str], now: float,
                 trace: tuple[str, str] = ("", "")) -> dict[str, Any]:
    """NewCloudEvent, then ApplyMetadata. ``trace``: the request's (traceparent, tracestate)
    as daprd's ``TraceIDAndStateFromSpan`` gives them (``_tracecontext``), or empty."""
    if media_type(content_type) == "application/cloudevents+json":
        envelope = _from_cloud_event(body, topic, pubsub, now, trace)
    else:
        envelope = _new_cloud_event(app_id, topic, pubsub, body, content_type, metadata, now,
                                    trace)
    ttl = ttl_seconds(metadata)
    if ttl is not None:  # pubsub.redis has no native TTL, so daprd adds the expiration
        envelope["expiration"] = _rfc3339(now + ttl)
    return envelope


def _from_cloud_event(body: bytes, topic: str, pubsub: str, now: float,
                      trace: tuple[str, str]) -> dict[str, Any]:
    """The client's own envelope: kept, with topic and pubsubname overwritten and missing
    fields defaulted (the trace fields from the request); no id is added and no
    ``cloudevent.*`` override applies."""
    try:
        envelope = go_decode(body)
    except ValueError as exc:
        raise CloudEventError("the body is not valid JSON") from exc
    if not isinstance(envelope, dict):
        raise CloudEventError("a CloudEvent must be a JSON object")
    envelope.setdefault("time", _rfc3339(now))
    if "traceid" not in envelope:
        envelope.update(traceid=trace[0], traceparent=trace[0])
    envelope.setdefault("tracestate", trace[1])
    envelope.update(topic=topic, pubsubname=pubsub)
    for name, value in (("source", "Dapr"), ("type", "com.dapr.event.sent"),
                        ("specversion", "1.0")):
        if envelope.get(name) is None:
            envelope[name] = value
    return envelope


def _new_cloud_event(app_id: str, topic: str, pubsub: str, body: bytes, content_type: str,
                     metadata: Mapping[str, str], now: float,
                     trace: tuple[str, str]) -> dict[str, Any]:
    given = {name.removeprefix("cloudevent."): value for name, value in
             go_fields(dict(metadata), _OVERRIDES).items()}
    trace_id = given.get("traceparent") or given.get("traceid", trace[0])
    content_type = content_type or "text/plain"
    envelope: dict[str, Any] = {
        "id": given.get("id") or str(uuid.uuid4()), "specversion": "1.0",
        "datacontenttype": content_type,
        "source": given.get("source", app_id) or "Dapr",
        "type": given.get("type") or "com.dapr.event.sent",
        "topic": topic, "pubsubname": pubsub,
        "traceid": trace_id, "traceparent": trace_id,  # one value, as daprd sets both
        "tracestate": given.get("tracestate", trace[1]), "time": _rfc3339(now),
    }
    kind = media_type(content_type)
    if kind in ("application/octet-stream", "application/cloudevents+protobuf"):
        envelope["data_base64"] = base64.b64encode(body).decode()
    else:
        envelope["data"] = _data(body, kind == "application/json")
    if given.get("subject"):
        envelope["subject"] = given["subject"]
    return envelope


def _data(body: bytes, is_json: bool) -> Any:
    """Parsed JSON for application/json; anything else, or JSON that does not parse, as text."""
    if is_json:
        try:
            return go_decode(body)
        except ValueError:
            pass
    return body.decode("utf-8", "replace")


def _rfc3339(timestamp: float) -> str:
    """Go's time.RFC3339 in UTC: whole seconds and a ``Z``."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_INT64 = re.compile(r"[+-]?[0-9]+")


def ttl_seconds(metadata: Mapping[str, str]) -> float | None:
    """TryGetTTL: ``ttl`` or ``ttlInSeconds`` in any case, as a Go duration (``90s``, ``1h``)
    or a whole number of seconds above zero; a value that does not parse is ignored."""
    lowered = {key.lower(): value for key, value in metadata.items()}
    value = next((lowered[key] for key in ("ttl", "ttlinseconds") if key in lowered), "")
    if not value:
        return None
    try:
        nanos = go_duration_nanos(value)
    except ValueError:
        if not _INT64.fullmatch(value) or not 0 < int(value) <= MAX_NANOS:
            return None
        nanos = (int(value) * 10**9 + 2**63) % 2**64 - 2**63  # Go's int64 multiply wraps
        if nanos < 0:
            nanos = MAX_NANOS
    return max(nanos, 0) / 10**9
