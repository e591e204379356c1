"""docker-compose.yml to the commands `make compose-native` runs (the translation only: the
run itself needs root, docs/operations.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kugel_common._cli import _apps, _parser
from kugel_common.dapr.sidecar import load_components
from services.compose_native import (
    ComposeError,
    NetworkError,
    ServicePlan,
    _plan,
    check_can_build,
    left_out,
    plan,
)
from services.compose_native.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
VENV = Path("/venv/bin")
RUN = Path("/run-dir")


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> dict[str, ServicePlan]:
    monkeypatch.setattr(_plan.shutil, "which", lambda name: f"/usr/bin/{name}")
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return {p.name: p for p in plan(compose, ROOT, RUN, VENV)}


def test_a_service_built_here_runs_its_dockerfile_cmd_from_the_repo(
    plans: dict[str, ServicePlan]
) -> None:
    terminal = plans["terminal"]
    assert terminal.argv == ("sh", "-c", "exec python -m uvicorn --factory "
                             "services.${SERVICE}.app:build --host 0.0.0.0 --port ${PORT}")
    assert terminal.cwd == ROOT and terminal.network == "terminal"
    env = terminal.env
    assert env["PATH"].startswith("/venv/bin:")
    assert (env["SERVICE"], env["PORT"], env["PYTHONUNBUFFERED"]) == ("terminal", "8001", "1")
    assert env["DAPR_API_TOKEN"] == "dev-dapr-api-token"  # secrets.env.example
    assert env["BASE_URL_CART"] == "dapr://cart/api/v1"
    assert (terminal.cwd / env["UVICORN_LOG_CONFIG"]).is_file()  # relative: the image's /app
    assert env["KUGEL_OUTBOX_PATH"] == "/run-dir/fs/terminal/data/outbox.sqlite3"
    assert terminal.mounts == {RUN / "fs/terminal/data": RUN / "volumes/terminal-data"}
    assert terminal.ports == ((8001, 8001),)
    assert terminal.depends_on == {"redis": "service_healthy", "master-data": "service_healthy"}
    check = terminal.healthcheck
    assert check is not None and check.argv[:2] == ("python", "-c")
    assert (check.interval, check.timeout, check.retries, check.start_period) == (5, 3, 20, 10)


def test_daprd_becomes_kugel_sidecar_with_the_same_flags_in_the_apps_namespace(
    plans: dict[str, ServicePlan]
) -> None:
    sidecar = plans["cart-dapr"]
    assert sidecar.sidecar and sidecar.network == "cart" and sidecar.ports == ()
    assert sidecar.argv[:4] == ("/venv/bin/python", "-m", "kugel_common._cli", "sidecar")
    args = _parser().parse_args(list(sidecar.argv[3:]))
    assert (args.app_id, args.app_port, args.dapr_http_port) == ("cart", 8003, 3500)
    fs = RUN / "fs/cart-dapr"
    assert args.resources_path == [fs / "dapr/components", fs / "dapr/policies"]
    assert (args.config, args.data_dir) == (fs / "dapr/config.yaml", RUN / "sidecar")
    assert sidecar.mounts == {
        fs / "dapr/components": ROOT / "dapr/components",
        fs / "dapr/policies/resiliency.yaml": ROOT / "dapr/resiliency.yaml",
        fs / "dapr/config.yaml": ROOT / "dapr/config.yaml",
    }


def test_the_sidecar_command_works_once_its_mounts_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_plan.shutil, "which", lambda name: f"/usr/bin/{name}")
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    sidecar = {p.name: p for p in plan(compose, ROOT, tmp_path, VENV)}["journal-dapr"]
    for link, target in sidecar.mounts.items():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
    args = _parser().parse_args(list(sidecar.argv[3:]))
    assert _apps(args) == [("journal", 3500, "http://127.0.0.1:8005")]
    names = {c.name for c in load_components(args.resources_path)}
    assert names == {"statestore", "cartstore", "pubsub-tranlog-report",
                     "pubsub-opencloselog-report"}


def test_redis_runs_the_local_redis_server_as_the_image_does(
    plans: dict[str, ServicePlan]
) -> None:
    redis = plans["redis"]
    assert redis.argv == ("redis-server", "--protected-mode", "no")
    assert redis.cwd == RUN / "volumes/redis" and redis.network == "redis"
    assert redis.healthcheck is not None and redis.healthcheck.argv == ("redis-cli", "ping")
    own = {p.network for p in plans.values()}
    assert own == {"redis", "terminal", "master-data", "cart", "report", "journal"}


def test_the_collector_is_left_out_and_said_so(plans: dict[str, ServicePlan]) -> None:
    """It only receives telemetry: the stack runs without it, nothing waits for it."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert set(left_out(compose)) == {"otel-collector"}
    assert "only receives telemetry" in left_out(compose)["otel-collector"]
    assert "otel-collector" not in plans and len(plans) == len(compose["services"]) - 1
    waits = {"services": {"it": {"build": ".", "depends_on": ["otel-collector"]},
                          "otel-collector": {"image": "otel/opentelemetry-collector:0.154.0"}}}
    with pytest.raises(ComposeError, match="not a service that runs here"):
        plan(waits, ROOT, RUN, VENV)
    built = {"services": {"otel-collector": {"build": ".",
                                             "image": "otel/opentelemetry-collector:1.0"}}}
    assert left_out(built) == {}  # built from this repo: it runs


@pytest.mark.parametrize(("service", "fragment"), [
    ({"image": "postgres:16"}, "no local stand-in"),
    ({"build": ".", "network_mode": "host"}, "network_mode"),
    ({"build": ".", "depends_on": {"other": {"condition": "service_healthy"}}},
     "no healthcheck"),
    ({"build": ".", "depends_on": ["nobody"]}, "not a service"),
    ({"build": ".", "ports": ["80-81:80-81"]}, "port"),
    ({"build": ".", "healthcheck": {"test": ["CMD", "true"], "interval": "soon"}}, "duration"),
])
def test_what_has_no_local_equivalent_is_refused(service: dict[str, Any], fragment: str) -> None:
    compose = {"services": {"it": service, "other": {"build": "."}}}
    with pytest.raises(ComposeError, match=fragment):
        plan(compose, ROOT, RUN, VENV)


def test_durations_read_as_compose_reads_them() -> None:
    assert [_plan._seconds(d) for d in ("5s", "1m30s", "500ms", "1h")] == [5, 90, 0.5, 3600]


def test_without_root_it_says_why_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(NetworkError, match="needs root"):
        check_can_build()
    assert main([]) == 2
    assert "network namespace" in capsys.readouterr().err
