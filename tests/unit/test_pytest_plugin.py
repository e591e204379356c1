"""kugel's pytest plugin in a user's project: its own folder, components and settings, no
conftest, and only the pytest configuration that docs/testing.md asks for."""

from __future__ import annotations

from pathlib import Path

from tests.docs.project import run_pytest

COMPONENT = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: stock
spec:
  type: state.in-memory
  version: v1
scopes:
  - inventory
"""

# Each test states what it checks; the outer test asserts every one of them passed.
TESTS = '''
from collections.abc import Callable

import pytest
from dependency_injector import providers
from pytest_httpx import HTTPXMock

from kugel_common import get_service_client
from kugel_common.container import KugelContainer
from kugel_common.dapr.sidecar import LocalSidecar
from kugel_common.fastapi import AppSettings
from kugel_common.pytest_plugin import ServiceStub


class Container(KugelContainer):
    app_settings = providers.Singleton(AppSettings, app_id="inventory")


@pytest.fixture
def kugel_container_class() -> type[KugelContainer]:
    return Container


async def test_stubs_and_the_sidecar_together_without_a_marker(
    service_stub: Callable[[str], ServiceStub], local_sidecar: LocalSidecar,
    kugel_container: Container,
) -> None:
    service_stub("supplier").get("/stock/tea", json={"count": 3})
    async with get_service_client("supplier") as supplier:
        count = (await supplier.get("/stock/tea"))["count"]
    dapr = kugel_container.dapr()
    await dapr.save_state("stock", "tea", count)  # scoped to inventory: the container's app id
    assert await dapr.get_state("stock", "tea") == 3


@pytest.mark.httpx_mock(should_mock=lambda request: True)
async def test_the_tests_own_should_mock_wins(
    httpx_mock: HTTPXMock, local_sidecar: LocalSidecar, kugel_container: Container,
) -> None:
    httpx_mock.add_response(url=local_sidecar.url("inventory") + "/v1.0/state/stock/tea",
                            json=7)
    assert await kugel_container.dapr().get_state("stock", "tea") == 7
'''

FROM_ENVIRONMENT = '''
import pytest

from kugel_common import ServiceClientPool
from kugel_common.dapr import DaprClientHelper
from kugel_common.dapr.sidecar import LocalSidecar


@pytest.fixture(autouse=True)
def app_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUGEL_APP_ID", "inventory")


async def test_without_a_container_the_app_id_is_kugel_app_id(
    local_sidecar: LocalSidecar, sidecar_app_id: str
) -> None:
    assert sidecar_app_id == "inventory"
    async with ServiceClientPool() as pool:
        dapr = DaprClientHelper(pool)  # at DAPR_HTTP_ENDPOINT: the local sidecar
        await dapr.save_state("stock", "tea", 1)
        assert await dapr.get_state("stock", "tea") == 1
'''


def test_the_fixtures_combine_and_take_the_app_id_from_the_apps_settings(
    tmp_path: Path,
) -> None:
    (tmp_path / "dapr" / "components").mkdir(parents=True)
    (tmp_path / "dapr" / "components" / "stock.yaml").write_text(COMPONENT)
    (tmp_path / "test_inventory.py").write_text(TESTS)
    (tmp_path / "test_environment.py").write_text(FROM_ENVIRONMENT)
    result = run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout, result.stdout
    assert "warning" not in result.stdout.lower(), result.stdout
