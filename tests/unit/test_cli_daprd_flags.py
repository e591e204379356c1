"""`kugel sidecar` reads daprd's command line as docker-compose.yml writes it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from kugel_common._cli import _apps, _daprd_argv, _max_body_size, _notes, _parser, main

ROOT = Path(__file__).resolve().parents[2]


def sidecar_args(argv: list[str]) -> argparse.Namespace:
    return _parser().parse_args(["sidecar", *_daprd_argv(argv)])


def compose_command(service: str) -> list[str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command: list[str] = compose["services"][service]["command"]
    assert command[0] == "./daprd"
    return command[1:]


def test_the_compose_files_daprd_command_is_one_apps_sidecar(tmp_path: Path) -> None:
    args = sidecar_args(compose_command("terminal-dapr"))
    assert (args.app_id, args.app_port, args.dapr_http_port) == ("terminal", 8001, 3500)
    assert args.resources_path == [Path("/dapr/components"), Path("/dapr/policies")]
    assert args.config == Path("/dapr/config.yaml")
    with pytest.raises(ValueError, match="--config"):  # daprd refuses a missing one too
        _apps(args)
    args.config = tmp_path / "config.yaml"
    args.config.write_text("kind: Configuration\n")
    assert _apps(args) == [("terminal", 3500, "http://127.0.0.1:8001")]
    assert _notes(args) == [f"--config {args.config}: its tracing and metrics are not applied"]


def test_single_dash_flags_channel_address_and_ignored_flags() -> None:
    args = sidecar_args(["-app-id", "cart", "-app-port", "8003", "--app-channel-address",
                         "10.0.0.7", "--dapr-grpc-port", "50001", "--placement-host-address",
                         "placement:50005", "--app-protocol", "http", "--log-level", "warn"])
    assert _apps(args) == [("cart", 3500, "http://10.0.0.7:8003")]
    assert _notes(args) == [
        "--dapr-grpc-port 50001 is ignored: the local sidecar serves daprd's HTTP API only",
        "--placement-host-address placement:50005 is ignored: there are no actors"]


@pytest.mark.parametrize(("argv", "value"), [
    (["--enable-metrics"], "true"), (["--enable-metrics", "--app-id", "cart"], "true"),
    (["--enable-metrics=false"], "false"), (["-enable-metrics"], "true")])
def test_a_go_boolean_flag_may_stand_alone(argv: list[str], value: str) -> None:
    assert _notes(sidecar_args(argv)) == [
        f"--enable-metrics {value} is ignored: no metrics are exported"]


@pytest.mark.parametrize("argv", [
    ["--app-id", "cart", "--app-protocol", "grpc"],
    ["--app-id", "cart", "--app", "terminal:3501"],
])
def test_flags_that_cannot_work_are_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError):
        _apps(sidecar_args(argv))
    assert main(["sidecar", *argv]) == 2
    assert capsys.readouterr().err.startswith("kugel sidecar: ")


@pytest.mark.parametrize(("argv", "size"), [
    ([], 4 << 20),
    (["--max-body-size", "16Mi"], 16 << 20),
    (["--max-body-size", "400"], 400),
    (["--max-body-size", "1.5Ki"], 1536),
    (["--max-body-size", "2k"], 2000),
    (["--max-body-size", "1e3"], 1000),
    (["--max-body-size", "0"], 0),
    (["--max-body-size", "-1"], -1),
    (["--dapr-http-max-request-size", "2"], 2 << 20),
    (["--dapr-http-max-request-size", "-1"], -1),
    (["--max-body-size", "1Mi", "--dapr-http-max-request-size", "2"], 1 << 20),
])
def test_max_body_size_reads_daprds_flags_in_daprds_order(argv: list[str], size: int) -> None:
    """cmd/daprd/options/options.go and its TestMaxBodySize."""
    assert _max_body_size(sidecar_args(["--app-id", "cart", *argv])) == size


def test_the_deprecated_max_request_size_flag_gets_a_note() -> None:
    args = sidecar_args(["--app-id", "cart", "--dapr-http-max-request-size", "2"])
    assert _notes(args) == ["--dapr-http-max-request-size is deprecated, as in daprd: use "
                            "--max-body-size"]


@pytest.mark.parametrize("value", ["bad", "4MiB", "0.5", "1m", ""])
def test_a_max_body_size_that_is_not_a_whole_quantity_is_refused(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["sidecar", "--app-id", "cart", "--max-body-size", value])
    assert exit_.value.code == 2
    assert "--max-body-size" in capsys.readouterr().err
