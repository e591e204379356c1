"""The local sidecar under malformed input, as daprd's clients and attackers send it.

Every answer must be a success or daprd's JSON error (``{"errorCode", "message"}``, never a
text/plain 500, never the catch-all's ERR_INTERNAL), and no value a write stored may break a
later read: after every request, a get and a bulk get of each key written must answer JSON.

``make test`` runs a few hundred derandomised examples; ``make fuzz`` runs the ``fuzz`` profile
(``HYPOTHESIS_PROFILE=fuzz``), with many more.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import os
import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kugel_common.dapr.sidecar import Component, SidecarApp
from kugel_common.dapr.sidecar._events import Published
from kugel_common.dapr.sidecar._go import go_quote
from kugel_common.dapr.sidecar._state import StateStore

settings.register_profile("default", max_examples=400, derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=20_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

STORE = Component("statestore", "state.redis")
PUBSUB = Component("pubsub", "pubsub.redis")
JSON_MEDIA = "application/json"


class Client:
    """Synchronous calls into the sidecar's ASGI app, on one loop in this thread (the store's
    SQLite connection belongs to it). An unhandled exception becomes starlette's text/plain 500,
    which ``check`` refuses."""

    def __init__(self) -> None:
        self.published: list[Published] = []
        store = StateStore.of(STORE, lambda: 0.0)
        app = SidecarApp("app", [STORE, PUBSUB], {"statestore": store}, self._publish)
        self._loop = asyncio.new_event_loop()
        self._http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app.asgi, raise_app_exceptions=False),
            base_url="http://sidecar", timeout=10)

    async def _publish(self, event: Published) -> None:
        self.published.append(event)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._http.request(method, path, **kwargs))

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


CLIENT = Client()

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
keys = st.text(max_size=12) | st.sampled_from(["k", "a||b", "", "\ud800", "k/../x"])
anything = values | st.sampled_from(["NaN", 1e300])
# Bodies: JSON of the right shape with wrong parts, any JSON, raw bytes, and the known killers.
KILLERS = [b"[" * 100_000 + b"]" * 100_000, b'[{"key":"k","value":NaN}]', b"1e999",
           b'{"operations":[{"operation":"upsert","request":{"key":"\\ud800","value":1}}]}',
           b'[{"entryId":["x"],"event":1,"contentType":"application/json"}]', b"\xff\xfe",
           b'[{"key":"k","value":' + b"[" * 990 + b"]" * 990 + b"}]"]


def item() -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries({"key": keys | anything}, optional={
        "value": anything, "etag": anything, "options": anything, "metadata": anything,
        "contentType": anything})


def entry() -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries({}, optional={
        "entryId": st.text(max_size=4) | anything, "event": anything,
        "contentType": st.sampled_from([JSON_MEDIA, "text/plain", "application/octet-stream",
                                        "application/cloudevents+json"]) | anything,
        "metadata": anything})


def encode(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def bodies(structured: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return st.one_of(structured.map(encode), values.map(encode), st.binary(max_size=40),
                     st.sampled_from(KILLERS))


ENDPOINTS: list[tuple[str, str, st.SearchStrategy[bytes]]] = [
    ("POST", "/v1.0/state/statestore", bodies(st.lists(item(), max_size=3))),
    ("POST", "/v1.0/state/statestore/bulk",
     bodies(st.fixed_dictionaries({"keys": st.lists(keys | anything, max_size=3)}))),
    ("POST", "/v1.0/state/statestore/transaction", bodies(st.fixed_dictionaries({
        "operations": st.lists(st.fixed_dictionaries({
            "operation": st.sampled_from(["upsert", "delete"]) | anything,
            "request": item() | anything}), max_size=3)}))),
    ("POST", "/v1.0/publish/pubsub/orders", bodies(values)),
    ("POST", "/v1.0-alpha1/publish/bulk/pubsub/orders", bodies(st.lists(entry(), max_size=3))),
    ("GET", "/v1.0/state/statestore/{key}", st.just(b"")),
    ("DELETE", "/v1.0/state/statestore/{key}", st.just(b"")),
    ("GET", "/v1.0/healthz", st.just(b"")),
    ("GET", "/v1.0/metadata", st.just(b"")),
]
QUERY = st.dictionaries(st.sampled_from(["metadata.ttlInSeconds", "metadata.rawPayload",
                                         "metadata.cloudevent.id", "appid"]),
                        st.text(max_size=8) | st.sampled_from(["abc", "nan", "1e300", "9" * 40]),
                        max_size=2)
CONTENT_TYPES = st.sampled_from([JSON_MEDIA, "text/plain", "application/cloudevents+json",
                                 "application/octet-stream"])


def check(response: httpx.Response) -> None:
    """Success, or daprd's JSON error body."""
    if response.status_code < 400:
        return
    assert response.headers["content-type"].startswith(JSON_MEDIA), response.text[:200]
    body = response.json()
    assert isinstance(body.get("errorCode"), str) and body["errorCode"].startswith("ERR_")
    assert body["errorCode"] != "ERR_INTERNAL", body  # the catch-all: a bug got that far


# What a Python repr or a Python exception's text looks like; none may reach a client.
PYTHON_MARKERS = ("None", "{'", "Error(", "Traceback", "Expecting value", "(char ",
                  "JSONDecodeError", "ResponseError", *(
                      name for name, value in vars(builtins).items()
                      if isinstance(value, type) and issubclass(value, BaseException)))


def speaks_go(response: httpx.Response, sent: str) -> None:
    """An error's message shows nothing of Python, bar what the request itself carried."""
    if response.status_code < 400:
        return
    message = response.json()["message"]
    leaked = [m for m in PYTHON_MARKERS if m in message and m not in sent]
    assert not leaked, message


def first_value(body: bytes) -> Any:
    """What Go's json.Decoder reads: the first value, whatever follows it."""
    text = body.decode("utf-8", "replace")
    return json.JSONDecoder().raw_decode(text, len(text) - len(text.lstrip(" \t\n\r")))[0]


def _as_go_decodes(text: str) -> str:
    """Go's JSON decoder turns a lone surrogate into U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def readable(key: str) -> None:
    """Whatever was stored under ``key`` can be read back, alone and in bulk."""
    single = CLIENT.get(f"/v1.0/state/statestore/{quote(key, safe='')}")
    check(single)
    if single.status_code == 200:
        json.loads(single.content)  # what the store holds is JSON
    bulk = CLIENT.post("/v1.0/state/statestore/bulk", json={"keys": [key]})
    assert bulk.status_code == 200, bulk.text[:200]
    assert json.loads(bulk.content)[0]["key"] == key


@given(data=st.data())
def test_every_endpoint_answers_malformed_input_with_daprds_json(data: st.DataObject) -> None:
    method, path, body_strategy = data.draw(st.sampled_from(ENDPOINTS))
    key = data.draw(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126,
                                                   exclude_characters="/?#%"),
                            min_size=1, max_size=8))
    body = data.draw(body_strategy)
    response = CLIENT.request(method, path.format(key=key), content=body,
                              params=data.draw(QUERY),
                              headers={"content-type": data.draw(CONTENT_TYPES)})
    check(response)
    speaks_go(response, body.decode("utf-8", "replace") + key + str(response.request.url))
    written = {key}
    if response.status_code == 204 and path.endswith(("statestore", "transaction")):
        parsed = first_value(body) or {}  # null, like {}, writes nothing
        items = parsed if isinstance(parsed, list) else [  # {} is an empty transaction
            op["request"] for op in parsed.get("operations") or []]
        written |= {_as_go_decodes(i["key"]) for i in items}
    for name in written:
        if "||" not in name and "/" not in name and name:
            readable(name)


@pytest.mark.parametrize(("method", "path", "body", "params", "status", "code"), [
    ("POST", "/v1.0/state/statestore", b"[" * 100_000 + b"]" * 100_000, {}, 400,
     "ERR_MALFORMED_REQUEST"),
    ("POST", "/v1.0/state/statestore", b'[{"key":"k","value":NaN}]', {}, 400,
     "ERR_MALFORMED_REQUEST"),
    ("POST", "/v1.0/state/statestore", b'[{"key":"k","value":1e300}]', {}, 204, None),
    ("POST", "/v1.0/state/statestore", b'[{"key":"k","value":1e999}]', {}, 400,
     "ERR_MALFORMED_REQUEST"),
    ("POST", "/v1.0/state/statestore", b'[{"key":"k","value":1,"options":[1]}]', {}, 400,
     "ERR_MALFORMED_REQUEST"),
    ("POST", "/v1.0/state/statestore", b'[{"key":"k","value":1,"metadata":"x"}]', {}, 400,
     "ERR_MALFORMED_REQUEST"),
    ("POST", "/v1.0/state/statestore", b'[{"key":"k","value":1,"contentType":5}]', {}, 400,
     "ERR_MALFORMED_REQUEST"),
    ("POST", "/v1.0/state/statestore",
     b'[{"key":"k","value":1,"metadata":{"ttlInSeconds":"abc"}}]', {}, 500, "ERR_STATE_SAVE"),
    ("POST", "/v1.0/state/statestore", b'[[1]]', {}, 400, "ERR_MALFORMED_REQUEST"),
    ("POST", "/v1.0/state/statestore/transaction",
     b'{"operations":[{"operation":"upsert","request":{"key":"k","value":NaN}}]}', {}, 400,
     "ERR_MALFORMED_REQUEST"),
    ("POST", "/v1.0-alpha1/publish/bulk/pubsub/orders",
     b'[{"entryId":["x"],"event":1,"contentType":"application/json"}]', {}, 400,
     "ERR_PUBSUB_EVENTS_SER"),
    ("POST", "/v1.0-alpha1/publish/bulk/pubsub/orders",
     b'[{"entryId":"1","event":1,"contentType":5}]', {}, 400, "ERR_PUBSUB_EVENTS_SER"),
    ("POST", "/v1.0/publish/pubsub/orders", b'{"a":1}', {"metadata.ttlInSeconds": "abc"}, 204,
     None),
    ("POST", "/v1.0/publish/pubsub/orders", b'{"a":1}', {"metadata.ttlInSeconds": "9" * 40},
     204, None),
])
def test_the_known_killers_get_daprds_answer(method: str, path: str, body: bytes,
                                             params: dict[str, str], status: int,
                                             code: str | None) -> None:
    response = CLIENT.request(method, path, content=body, params=params,
                              headers={"content-type": JSON_MEDIA})
    assert response.status_code == status, response.text[:200]
    if code is not None:
        assert response.json()["errorCode"] == code
    readable("k")


def test_a_surrogate_key_is_stored_as_daprd_would_and_read_back() -> None:
    body = b'{"operations":[{"operation":"upsert","request":{"key":"s\\ud800","value":1}}]}'
    assert CLIENT.post("/v1.0/state/statestore/transaction", content=body).status_code == 204
    readable("s\ufffd")  # Go's decoder replaced the lone surrogate


@given(etag=st.text(min_size=1, max_size=8).filter(lambda t: not re.fullmatch("[+-]?[0-9]+", t)),
       content_type=st.text(max_size=12), raw=st.text(min_size=1, max_size=6))
def test_a_refused_value_is_never_shown_as_a_python_repr(etag: str, content_type: str,
                                                         raw: str) -> None:
    """daprd quotes a value as Go does (``%q``, or the quotes its message has), so a value
    the request carried never appears in a message as ``repr`` shows it."""
    save = CLIENT.request("POST", "/v1.0/state/statestore",
                          json=[{"key": "k", "value": 1, "etag": etag}])
    bulk = CLIENT.request("POST", "/v1.0-alpha1/publish/bulk/pubsub/t",
                          json=[{"entryId": "1", "event": 1, "contentType": content_type}])
    meta = CLIENT.request("POST", "/v1.0/publish/pubsub/t", json={},
                          params={"metadata.rawPayload": raw})
    assert (save.status_code, save.json()["errorCode"]) == (400, "ERR_STATE_SAVE")
    # (answer, value sent, how daprd shows it: rawPayload's message has '%s')
    for response, sent, shown in ((save, etag, go_quote(etag)), (bulk, content_type, ""),
                                  (meta, raw, f"'{raw}'")):
        message = response.json()["message"] if response.status_code >= 400 else ""
        assert repr(sent) == shown or repr(sent) not in message, message
