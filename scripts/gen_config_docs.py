"""Print docs/configuration.md from the settings model, so the doc cannot drift from the code."""

from __future__ import annotations

import json

from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from kugel_common import ClientSettings
from kugel_common.fastapi import AppSettings

HEADER = """\
# Configuration

Generated from `kugel_common.ClientSettings` and `AppSettings` by `make docs`; a test fails when this file and the
model disagree.

Every setting is checked when the service starts (`container.init_resources()`, which
`create_app`'s lifespan runs before serving): the service's own, the client's, and each
`KUGEL_<SERVICE>__<NAME>` override. A bad one stops the start with one `SettingsError` that
lists each bad variable and what is wrong with it (`KUGEL_CATALOG__ATTEMPTS: Input should be a
valid integer`), and never a value, so a secret is not printed.

## Where services live

| variable | meaning |
|---|---|
| `BASE_URL_<SERVICE>` | Base URL of a service, e.g. `BASE_URL_MASTER_DATA=http://127.0.0.1:8002/api/v1`. The name is upper-cased with `-` turned into `_` and matched exactly. Comma-separate several instances for round-robin with outlier ejection. `dapr://<app-id>/<base-path>` calls through the Dapr sidecar's service invocation. |
| `DAPR_HTTP_ENDPOINT` | Sidecar address for `dapr://` services, e.g. `http://127.0.0.1:3500`. |
| `DAPR_RUNTIME_HOST`, `DAPR_HTTP_PORT` | Used when `DAPR_HTTP_ENDPOINT` is unset; default `127.0.0.1` and `3500`. |
| `DAPR_API_TOKEN` | Sent as the `dapr-api-token` header on `dapr://` calls. Never logged. |

## Client settings

Each setting is read from `KUGEL_<NAME>` for every service, and can be overridden for one service
with `KUGEL_<SERVICE>__<NAME>`: `KUGEL_ATTEMPTS=3` and `KUGEL_MASTER_DATA__ATTEMPTS=5`.
Durations are in seconds. Dict values are JSON.

| variable | default | meaning |
|---|---|---|
"""


def default_of(model: type[BaseSettings], name: str) -> str:
    field = model.model_fields[name]
    if field.default is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if value is None:
        return "unset"
    if isinstance(value, dict):
        return f"`{json.dumps(value)}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


SERVICE_HEADER = """

## Service settings

Read once per service by `kugel_common.fastapi.AppSettings`, which the container and `create_app` use.

| variable | default | meaning |
|---|---|---|
"""


def rows(model: type[BaseSettings]) -> str:
    return "\n".join(
        f"| `KUGEL_{name.upper()}` | {default_of(model, name)} | {field.description} |"
        for name, field in model.model_fields.items()
    )


def render() -> str:
    return HEADER + rows(ClientSettings) + SERVICE_HEADER + rows(AppSettings) + "\n"


if __name__ == "__main__":
    print(render(), end="")
