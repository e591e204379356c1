"""docker-compose.yml to the commands that run it here: one ``ServicePlan`` per service.

The translation, rule by rule (docs/operations.md has the user's view):

- A service ``build`` from this repo runs from the repo: its Dockerfile's ``CMD`` (or the
  service's ``command``) with the Dockerfile's ``ENV`` and build ``ARG`` values, in the repo
  root, with the venv's ``python`` first on ``PATH``.
- ``daprio/daprd`` runs ``kugel sidecar`` with daprd's own flags, plus ``--data-dir`` shared by
  all sidecars (the stand-in for the Redis they share); ``redis`` runs the local
  ``redis-server`` (protected mode off, as the image builds it).
- ``env_file`` entries then ``environment``, over the image's ``ENV``.
- Volumes: each service gets a directory standing in for its container's file system, with a
  symlink at each mount point (bind mounts to the repo path, named volumes to a directory of the
  run); an absolute path in its command or environment that a mount covers, or that holds one,
  is rewritten into that directory (``/data/outbox.sqlite3``, ``--resources-path /dapr/policies``).
- ``network_mode: service:X`` runs in X's network namespace; ``ports``, ``depends_on`` and
  ``healthcheck`` are kept for the runner.
- An OpenTelemetry collector is left out (:func:`left_out` says so): it only receives
  telemetry, nothing may wait for it, and the services run without it.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["ComposeError", "Healthcheck", "ServicePlan", "left_out", "plan"]


class ComposeError(ValueError):
    """A compose file, or a part of it, that cannot be run here."""


@dataclass(frozen=True, slots=True)
class Healthcheck:
    argv: tuple[str, ...]
    interval: float = 30.0
    timeout: float = 30.0
    retries: int = 3
    start_period: float = 0.0


@dataclass(frozen=True, slots=True)
class ServicePlan:
    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path
    network: str  # the service whose network namespace it joins: itself, or network_mode's X
    ports: tuple[tuple[int, int], ...] = ()  # (host port, container port)
    depends_on: Mapping[str, str] = field(default_factory=dict)  # service: condition
    healthcheck: Healthcheck | None = None
    mounts: Mapping[Path, Path] = field(default_factory=dict)  # symlink in its fs: target
    sidecar: bool = False  # a daprd: SIGUSR1 takes its broker down, SIGUSR2 brings it back


_CONDITIONS = frozenset({"service_started", "service_healthy"})
# Images that only receive telemetry: the services' and sidecars' exporters drop what they
# cannot send, so the stack runs the same without them.
_TELEMETRY_ONLY = frozenset({"otel/opentelemetry-collector",
                             "otel/opentelemetry-collector-contrib"})


def left_out(compose: Mapping[str, Any]) -> dict[str, str]:
    """The services a run here leaves out, each with why."""
    return {name: f"{spec['image']} only receives telemetry; what is sent to it is dropped"
            for name, spec in (compose.get("services") or {}).items()
            if _repository(str(spec.get("image", ""))) in _TELEMETRY_ONLY
            and "build" not in spec}


def plan(compose: Mapping[str, Any], root: Path, run_dir: Path,
         venv_bin: Path) -> list[ServicePlan]:
    """Every service of ``compose`` but those :func:`left_out` names, in file order; nothing is
    created or started."""
    services = compose.get("services")
    if not isinstance(services, dict) or not services:
        raise ComposeError("the compose file has no services")
    skipped = left_out(compose)
    running = {name: spec for name, spec in services.items() if name not in skipped}
    return [_service(name, spec, root, run_dir, venv_bin, running)
            for name, spec in running.items()]


def _service(name: str, spec: Mapping[str, Any], root: Path, run_dir: Path, venv_bin: Path,
             services: Mapping[str, Any]) -> ServicePlan:
    fs = run_dir / "fs" / name
    mounts = _mounts(spec.get("volumes") or [], root, run_dir, fs)
    image_env, argv, cwd = _image(name, spec, root, run_dir, venv_bin)
    env = {"PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": str(run_dir / "home"),
           "HOSTNAME": name, **image_env, **_env_files(spec.get("env_file"), root),
           **_environment(spec.get("environment"))}
    def local(value: str) -> str:
        return _rewrite(value, mounts, fs)

    network = name
    mode = spec.get("network_mode")
    if mode is not None:
        if not str(mode).startswith("service:") or str(mode)[8:] not in services:
            raise ComposeError(f"{name}: network_mode {mode!r} is not service:<a service>")
        network = str(mode)[8:]
    return ServicePlan(
        name=name, argv=tuple(local(a) for a in argv),
        env={k: local(v) for k, v in env.items()}, cwd=cwd, network=network,
        ports=tuple(_port(p, name) for p in spec.get("ports") or []),
        depends_on=_depends_on(name, spec.get("depends_on") or {}, services),
        healthcheck=_healthcheck(name, spec.get("healthcheck")),
        mounts={fs / PurePosixPath(target).relative_to("/"): source
                for target, source in mounts.items()},
        sidecar=str(spec.get("image", "")).startswith("daprio/daprd"))


def _image(name: str, spec: Mapping[str, Any], root: Path, run_dir: Path,
           venv_bin: Path) -> tuple[dict[str, str], list[str], Path]:
    """The image's environment, command and working directory, here."""
    command = spec.get("command")
    if isinstance(command, str):
        command = shlex.split(command)
    build = spec.get("build")
    if build is not None:
        env, cmd = _dockerfile(root, build)
        return env, list(command or cmd), root
    image = str(spec.get("image", ""))
    repository = _repository(image)
    if repository == "daprio/daprd":
        if not command or command[0] not in ("./daprd", "daprd", "/daprd"):
            raise ComposeError(f"{name}: a daprd service needs its ./daprd command")
        return {}, [str(venv_bin / "python"), "-m", "kugel_common._cli", "sidecar",
                    *command[1:], "--data-dir", str(run_dir / "sidecar")], root
    if repository == "redis":
        if shutil.which("redis-server") is None:
            raise ComposeError(f"{name}: the redis image needs redis-server on PATH")
        data = run_dir / "volumes" / name
        return {}, list(command or ["redis-server", "--protected-mode", "no"]), data
    raise ComposeError(f"{name}: image {image!r} has no local stand-in (build it from this "
                       "repo, or use redis or daprio/daprd)")


def _repository(image: str) -> str:
    """``image`` without its tag."""
    return image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image


def _dockerfile(root: Path, build: Any) -> tuple[dict[str, str], list[str]]:
    """The final stage's ``ENV`` (``ARG`` and build args expanded) and its exec-form ``CMD``."""
    if isinstance(build, str):
        build = {"context": build}
    context = root / str(build.get("context", "."))
    text = (context / str(build.get("dockerfile", "Dockerfile"))).read_text()
    lines = re.sub(r"\\\n", " ", text).splitlines()
    args = {str(k): str(v) for k, v in (build.get("args") or {}).items()}
    values: dict[str, str] = {}
    env: dict[str, str] = {}
    cmd: list[str] = []
    for line in lines:
        word, _, rest = line.strip().partition(" ")
        word = word.upper()
        if word == "FROM":  # a new stage: its ARGs are declared again where it uses them
            env, cmd, values = {}, [], {}
        elif word == "ARG":
            key, _, default = rest.strip().partition("=")
            values[key] = args.get(key, default)
        elif word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = values[key] = _expand(value, values)
        elif word == "CMD":
            cmd = json.loads(rest)
    if not cmd:
        raise ComposeError(f"{context}: the Dockerfile has no exec-form CMD")
    return env, cmd


def _expand(value: str, values: Mapping[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values.get(m[1] or m[2], ""), value)


def _env_files(entries: Any, root: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in [entries] if isinstance(entries, str | dict) else entries or []:
        path, required = (entry, True) if isinstance(entry, str) else (
            entry["path"], entry.get("required", True))
        file = root / str(path)
        if not file.is_file():
            if required:
                raise ComposeError(f"env_file {path} does not exist")
            continue
        for line in file.read_text().splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and key and not key.startswith("#"):
                env[key.strip()] = value
    return env


def _environment(environment: Any) -> dict[str, str]:
    if isinstance(environment, list):
        return dict(item.partition("=")[::2] for item in environment)
    return {str(k): "" if v is None else str(v) for k, v in (environment or {}).items()}


def _mounts(volumes: list[Any], root: Path, run_dir: Path, fs: Path) -> dict[str, Path]:
    """Container path -> the host path that stands in for it."""
    mounts: dict[str, Path] = {}
    for volume in volumes:
        if not isinstance(volume, str):
            raise ComposeError(f"volume {volume!r}: only the short syntax is supported")
        source, _, rest = volume.partition(":")
        target = rest.split(":", 1)[0]
        if not target.startswith("/"):
            raise ComposeError(f"volume {volume!r}: the container path must be absolute")
        local = root / source if source.startswith(".") else run_dir / "volumes" / source
        mounts[target.rstrip("/")] = local.resolve()
    return mounts


def _rewrite(value: str, mounts: Mapping[str, Path], fs: Path) -> str:
    """An absolute path a mount covers, or that holds a mount, moves into the service's fs."""
    if not value.startswith("/"):
        return value
    path = value.rstrip("/")
    for target in mounts:
        if path == target or path.startswith(target + "/") or target.startswith(path + "/"):
            return str(fs) + value
    return value


def _port(port: Any, name: str) -> tuple[int, int]:
    parts = str(port).split("/")[0].split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts[-2:]):
        raise ComposeError(f"{name}: port {port!r}: expected [IP:]HOST:CONTAINER")
    return int(parts[-2]), int(parts[-1])


def _depends_on(name: str, depends: Any, services: Mapping[str, Any]) -> dict[str, str]:
    if isinstance(depends, list):
        depends = {d: {} for d in depends}
    wanted = {str(d): str((c or {}).get("condition", "service_started"))
              for d, c in depends.items()}
    for dependency, condition in wanted.items():
        if dependency not in services:
            raise ComposeError(f"{name} depends on {dependency}, which is not a service "
                               "that runs here")
        if condition not in _CONDITIONS:
            raise ComposeError(f"{name}: depends_on condition {condition} is not supported")
        if condition == "service_healthy" and not services[dependency].get("healthcheck"):
            raise ComposeError(f"{name} waits for {dependency} to be healthy; it has no "
                               "healthcheck")
    return wanted


def _healthcheck(name: str, check: Any) -> Healthcheck | None:
    if not check or check.get("disable"):
        return None
    test = check["test"]
    if isinstance(test, str):
        argv: list[str] = ["sh", "-c", test]
    elif test[0] == "CMD":
        argv = list(test[1:])
    elif test[0] == "CMD-SHELL":
        argv = ["sh", "-c", test[1]]
    elif test[0] == "NONE":
        return None
    else:
        raise ComposeError(f"{name}: healthcheck test {test!r}")
    return Healthcheck(tuple(argv), _seconds(check.get("interval", "30s")),
                       _seconds(check.get("timeout", "30s")), int(check.get("retries", 3)),
                       _seconds(check.get("start_period", "0s")))


_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}


def _seconds(duration: Any) -> float:
    """Compose durations: ``5s``, ``1m30s``, ``500ms``."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(duration))
    if not parts or "".join(n + u for n, u in parts) != str(duration):
        raise ComposeError(f"not a duration: {duration!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)
