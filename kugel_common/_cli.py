"""The ``kugel`` command. ``kugel new NAME`` scaffolds a service; ``kugel sidecar`` runs the
local Dapr sidecar for one or more apps (or, with daprd's flags, for one app as daprd does);
``kugel outbox`` lets an operator inspect an outbox file and requeue or drop parked events;
``kugel top`` shows what each running service sees of the ones it calls, refreshed live."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from ._extras import require
from ._scaffold import ScaffoldError, create_project
from ._top import STACK_FILE, Target, TargetError, stack_targets, target
from ._version import __version__
from .dapr import OutboxStatus, SqliteOutboxStore
from .dapr._outbox_salvage import salvage_outbox
from .errors import OutboxError

if TYPE_CHECKING:  # the sidecar is an extra: imported by the command that runs it
    from .dapr.sidecar import LocalSidecar

__all__ = ["main"]

App = tuple[str, int, "str | None"]


def _app(value: str) -> App:
    """``cart:3503:http://127.0.0.1:8003`` -> app id, sidecar port, app URL (optional)."""
    app_id, _, rest = value.partition(":")
    port, _, url = rest.partition(":")
    if not app_id or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected APP_ID:SIDECAR_PORT[:APP_URL], got {value!r}")
    return app_id, int(port), url or None


# Kubernetes resource quantities, as daprd's --max-body-size reads them (resource.ParseQuantity).
_QUANTITY = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?")
_SUFFIXES = {
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000),
    **{s: Fraction(1000**n) for n, s in enumerate(("", "k", "M", "G", "T", "P", "E"))},
    **{s: Fraction(1024**n) for n, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"), 1)},
}


def _bytes(value: str) -> int:
    """``4Mi`` -> 4194304, ``400`` -> 400, ``1e3`` -> 1000; a fraction of a byte is refused,
    as daprd's getQuantityBytes refuses it."""
    match = _QUANTITY.fullmatch(value.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a quantity such as 4Mi: {value!r}")
    number, suffix = Fraction(match[1]), match[2] or ""
    scale = Fraction(10) ** int(suffix[1:]) if suffix[:1] in ("e", "E") else _SUFFIXES[suffix]
    size = number * scale
    if size.denominator != 1:
        raise argparse.ArgumentTypeError(f"not a whole number of bytes: {value!r}")
    return int(size)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kugel")
    parser.add_argument("--version", action="version", version=f"kugel {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser(
        "new", help="scaffold a service in a new folder NAME",
        description="Writes a service (container, create_app, an upstream repository, a "
                    "publisher through the outbox, a subscriber, settings), its pyproject.toml "
                    "and its tests on kugel's pytest fixtures into the new folder NAME.")
    new.add_argument("name", metavar="NAME",
                     help="the service's name: lowercase letters, digits and '-', such as "
                          "inventory or stock-keeper")
    sidecar = commands.add_parser(
        "sidecar", help="run the local Dapr sidecar (daprd's HTTP API) for one or more apps",
        description="Serves daprd's HTTP API for each app on its own port, with shared "
                    "brokers and state stores. With --app-id it is one app's sidecar, as "
                    "daprd is, and works with the other sidecars of the same --data-dir. "
                    "DAPR_API_TOKEN and APP_API_TOKEN are read from the environment, as daprd "
                    "reads them. SIGUSR1 takes the message broker down (publishes get 500 "
                    "ERR_PUBSUB_PUBLISH_MESSAGE) and SIGUSR2 brings it back.")
    sidecar.add_argument("--app", action="append", type=_app, default=[],
                         metavar="APP_ID:SIDECAR_PORT[:APP_URL]",
                         help="an app to serve; repeat for several")
    daprd = sidecar.add_argument_group(
        "daprd's flags", "one app's sidecar, as daprd; flags for what the local sidecar does "
        "not have are accepted, and a note says they are ignored")
    daprd.add_argument("--app-id", help="the app's id")
    daprd.add_argument("--app-port", type=int, help="the port the app listens on")
    daprd.add_argument("--app-channel-address", default="127.0.0.1",
                       help="the address the app listens on (default 127.0.0.1)")
    daprd.add_argument("--app-protocol", default="http", help="only http")
    daprd.add_argument("--dapr-http-port", type=int, default=3500,
                       help="the sidecar's port (default 3500)")
    daprd.add_argument("--dapr-internal-grpc-port", type=int, default=0,
                       help="the port other sidecars send invocations to (default: any free)")
    daprd.add_argument("--max-body-size", type=_bytes, metavar="QUANTITY",
                       help="largest request body, e.g. 16Mi (default 4Mi); 0 or less: no "
                            "limit. A larger one gets daprd's answer for an unreadable body")
    daprd.add_argument("--dapr-http-max-request-size", type=int, metavar="MB",
                       help="deprecated, as in daprd: --max-body-size in MB")
    daprd.add_argument("--dapr-graceful-shutdown-seconds", type=_whole_seconds, default=5,
                       metavar="SECONDS", help="how long stopping waits for requests in "
                                               "flight before cancelling them (default 5)")
    daprd.add_argument("--resources-path", action="append", type=Path, default=[],
                       help="folder of component, resiliency and subscription YAML files "
                            "(default: dapr/components, else ~/.dapr/components, else dapr "
                            "init's pubsub and statestore)")
    daprd.add_argument("--config", type=Path,
                       help="daprd's Configuration file: must exist; tracing and metrics in it "
                            "are not applied")
    for flag in _IGNORED:  # Go's boolean flags may stand alone: --enable-metrics
        go_bool = flag in _GO_BOOLS
        daprd.add_argument(flag, help=argparse.SUPPRESS, nargs="?" if go_bool else None,
                           const="true" if go_bool else None)
    sidecar.add_argument("--data-dir", type=Path, default=Path(".kugel/sidecar"),
                         help="where state and undelivered events are kept; the sidecars of "
                              "one --data-dir share them, as daprd's share Redis")
    sidecar.add_argument("--in-memory", action="store_true",
                         help="keep nothing on disk (the embedded backend's state and events "
                              "die with the process; a component on a Redis keeps its data "
                              "there)")
    sidecar.add_argument("--log-level", default="info", help="debug, info, warn or error")
    sidecar.add_argument("--state-backend", choices=("auto", "embedded", "redis"),
                         default=os.environ.get("KUGEL_STATE_BACKEND", "auto"),
                         help="where state.redis components keep data: auto (default, or "
                              "KUGEL_STATE_BACKEND) uses the Redis at redisHost when one "
                              "answers, else the embedded store; redis fails start-up when "
                              "it does not answer; embedded never touches Redis")

    outbox = commands.add_parser(
        "outbox", help="inspect an outbox file; requeue or drop parked events",
        description="Works on the file while the service runs: its relay sends a requeued "
                    "event within a second. stats and list only read the file. Exit codes: "
                    "0 done; 1 nothing matched (requeue ID, drop) or salvage lost events; "
                    "2 the file cannot be used (missing, not an outbox, in use, read-only).")
    outbox.add_argument("--file", type=Path, required=True, help="the outbox's SQLite file "
                        "(KUGEL_OUTBOX_PATH of the service)")
    actions = outbox.add_subparsers(dest="action", required=True)
    actions.add_parser("stats", help="events per status, and the oldest waiting one's age")
    listing = actions.add_parser("list", help="parked events (or --status), oldest first")
    listing.add_argument("--status", choices=[s.value for s in OutboxStatus], default="parked",
                         help="which events to list (default: parked)")
    listing.add_argument("--limit", type=int, default=100)
    requeue = actions.add_parser("requeue", help="parked events back to pending")
    which = requeue.add_mutually_exclusive_group(required=True)
    which.add_argument("event_id", nargs="?")
    which.add_argument("--all", action="store_true", help="every parked event")
    drop = actions.add_parser("drop", help="forget a parked event for good")
    drop.add_argument("event_id")
    actions.add_parser("salvage", help="rewrite a damaged file from its readable events "
                       "(stop the service first)")
    _top_parser(commands)
    return parser


def _top_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    top = commands.add_parser(
        "top", help="watch each service's calls, breakers and outbox, live",
        description="Reads each service's /dependencies and shows one row per service (up, "
                    "or why not; its outbox) and one per service it calls (calls, errors, "
                    "retries, p50, p99, breaker), redrawn until q or Ctrl-C. The API key is "
                    "sent as X-API-KEY and never shown.")
    top.add_argument("--service", action="append", type=_target, default=[],
                     metavar="NAME=URL", help="a service and its base URL "
                     "(http://127.0.0.1:8003); repeat for several")
    top.add_argument("--stack", nargs="?", const=STACK_FILE, type=Path, metavar="FILE",
                     help=f"the services `make stack` runs, from the file it writes "
                          f"(default {STACK_FILE})")
    top.add_argument("--api-key", default=os.environ.get("KUGEL_API_KEY"),
                     help="the X-API-KEY to send (default: KUGEL_API_KEY; prefer it, a "
                          "command line is visible to other users)")
    top.add_argument("--interval", type=_seconds, default=2.0,
                     help="seconds between refreshes (default 2)")
    top.add_argument("--timeout", type=_seconds, default=2.0,
                     help="seconds a service has to send its whole answer (at most 1 MiB) "
                          "before it shows as down (default 2)")
    top.add_argument("--once", action="store_true",
                     help="print one frame and exit: 0 when every service answered, else 1")


def _target(value: str) -> Target:
    try:
        return target(value)
    except TargetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _whole_seconds(value: str) -> int:
    """daprd's flag is an int; 0 would mean no limit to uvicorn, so it is refused."""
    if not value.strip().isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected whole seconds above 0, got {value!r}")
    return int(value)


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {value!r}")
    return seconds


# daprd's flags for what the local sidecar does not have: why each is ignored.
_IGNORED = {
    "--dapr-grpc-port": "the local sidecar serves daprd's HTTP API only",
    "--placement-host-address": "there are no actors",
    "--scheduler-host-address": "there are no jobs or actor reminders",
    "--metrics-port": "no metrics are exported",
    "--enable-metrics": "no metrics are exported",
    "--dapr-listen-addresses": "the API listens on 127.0.0.1",
    "--mode": "self-hosted only",
}


_GO_BOOLS = frozenset({"--enable-metrics"})


def _daprd_argv(argv: Sequence[str]) -> list[str]:
    """daprd reads ``-app-id`` as ``--app-id`` (cmd/daprd/options/options.go); so does this."""
    return [f"-{a}" if len(a) > 2 and a[0] == "-" and a[1] != "-" else a for a in argv]


def _apps(args: argparse.Namespace) -> list[App]:
    """Fails with the message to print when the flags cannot work together."""
    if args.app and args.app_id:
        raise ValueError("give --app (several apps in one process) or --app-id (one app, as "
                         "daprd), not both")
    if args.app_protocol != "http":
        raise ValueError(f"--app-protocol {args.app_protocol}: the local sidecar calls apps "
                         "over http only")
    if args.config is not None and not args.config.is_file():
        raise ValueError(f"no such --config file: {args.config}")
    if not args.app_id:
        return list(args.app)
    url = f"http://{args.app_channel_address}:{args.app_port}" if args.app_port else None
    return [(args.app_id, args.dapr_http_port, url)]


def _default_resources() -> list[Path]:
    """daprd's default is ``~/.dapr/components``, where ``dapr init`` writes; a project's own
    ``dapr/components`` comes first. Neither: none, and dapr init's components are served."""
    for folder in (Path("dapr/components"), Path.home() / ".dapr" / "components"):
        if folder.is_dir():
            return [folder]
    return []


def _max_body_size(args: argparse.Namespace) -> int:
    """daprd's order: --max-body-size, else the deprecated flag in MB, else 4Mi."""
    if args.max_body_size is not None:
        return int(args.max_body_size)
    megabytes = args.dapr_http_max_request_size
    if megabytes is None:
        from .dapr.sidecar._limits import DEFAULT_MAX_BODY_SIZE

        return DEFAULT_MAX_BODY_SIZE
    return int(megabytes) << 20 if megabytes > 0 else int(megabytes)


def _notes(args: argparse.Namespace) -> list[str]:
    """What the given daprd flags do not do here."""
    notes = [f"{flag} {value} is ignored: {why}" for flag, why in _IGNORED.items()
             if (value := getattr(args, flag[2:].replace("-", "_"))) is not None]
    if args.config is not None:
        notes.append(f"--config {args.config}: its tracing and metrics are not applied")
    if args.dapr_http_max_request_size is not None:
        notes.append("--dapr-http-max-request-size is deprecated, as in daprd: use "
                     "--max-body-size")
    return notes


async def _serve(sidecar: LocalSidecar) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    # SIGUSR1 takes the message broker down and SIGUSR2 brings it back, state staying up.
    for sig, available in ((signal.SIGUSR1, False), (signal.SIGUSR2, True)):
        with contextlib.suppress(NotImplementedError, AttributeError):
            loop.add_signal_handler(sig, sidecar.broker.set_available, available)
    async with sidecar:
        for app_id, spec in sidecar.apps.items():
            target = f" -> app {spec.app_url}" if spec.app_url else ""
            print(f"sidecar for {app_id}: DAPR_HTTP_ENDPOINT={sidecar.url(app_id)}{target}",
                  flush=True)
        if sidecar.peer_url:
            print(f"invocations from other sidecars: {sidecar.peer_url}", flush=True)
        await stop.wait()
    print("sidecar stopped", flush=True)


def _salvage(path: Path) -> int:
    saved = salvage_outbox(path)
    if saved.damaged_copy is None:
        print(f"{path} is healthy ({saved.kept} events, every one readable): nothing to do, "
              "the file is unchanged")
        return 0
    print(f"kept {saved.kept} events; the damaged file is now {saved.damaged_copy}")
    if not saved.unreadable:
        print("nothing was lost")
        return 0
    what = ("unreadable" if saved.proven
            else "possibly lost (the damage hides how many rows there were)")
    print(f"{what}: {len(saved.unreadable)} rows, seq {saved.unreadable[0]} to "
          f"{saved.unreadable[-1]}, recorded after event {saved.before or '-'} and before "
          f"event {saved.after or '-'}; re-drive the events of that window from their source")
    if saved.lost_ids:
        print(f"lost events not yet delivered: {' '.join(saved.lost_ids)}")
    return 1


async def _outbox(args: argparse.Namespace) -> int:
    store = SqliteOutboxStore(args.file, read_only=args.action in ("stats", "list"))
    try:
        if args.action == "stats":
            for status, count in (await store.counts()).items():
                print(f"{status.value:<10} {count}")
            oldest = await store.oldest_waiting()
            age = "-" if oldest is None else f"{max(0.0, time.time() - oldest):.1f} s"
            print(f"oldest waiting: {age}")
            return 0
        if args.action == "list":
            for record in await store.records(OutboxStatus(args.status), args.limit):
                print(f"{record.event_id}  {record.pubsub}/{record.topic}  "
                      f"attempts={record.attempts}  {record.last_error or ''}".rstrip())
            return 0
        if args.action == "requeue":
            count = await store.requeue(None if args.all else args.event_id)
            if args.all:  # "nothing parked any more" holds either way
                print(f"requeued {count}" if count else "nothing to requeue")
                return 0
            print(f"requeued {count}" if count else f"no parked event {args.event_id}")
            return 0 if count else 1
        dropped = await store.drop(args.event_id)
        print("dropped" if dropped else f"no parked event {args.event_id}")
        return 0 if dropped else 1
    finally:
        store.close()


def _run(argv: Sequence[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(_daprd_argv(argv) if argv[:1] == ["sidecar"] else argv)
    if args.command == "new":
        return _new(args.name)
    if args.command == "top":
        return _top(args)
    if args.command == "outbox":
        if not args.file.is_file():
            why = "is a directory" if args.file.is_dir() else "no such file"
            print(f"kugel outbox: {why}: {args.file}", file=sys.stderr)
            return 2
        try:
            if args.action == "salvage":
                return _salvage(args.file)
            return asyncio.run(_outbox(args))
        except OutboxError as exc:
            print(f"kugel outbox: {exc}", file=sys.stderr)
            return 2
    return _sidecar(args)


def _new(name: str) -> int:
    try:
        folder = create_project(name, Path.cwd())
    except ScaffoldError as exc:
        print(f"kugel new: {exc}", file=sys.stderr)
        return 2
    print(f"created {folder}\nnext: cd {name} && pip install -e '.[dev]' && pytest")
    return 0


def _top(args: argparse.Namespace) -> int:
    try:
        targets = [*(stack_targets(args.stack) if args.stack else []), *args.service]
        require("kugel top", "top", "rich")
    except (TargetError, ModuleNotFoundError) as exc:
        print(f"kugel top: {exc}", file=sys.stderr)
        return 2
    if not targets:
        print("kugel top: give --service NAME=URL (repeat for several) or --stack",
              file=sys.stderr)
        return 2
    from ._top_screen import once, watch

    if args.once:
        return once(targets, api_key=args.api_key, timeout=args.timeout)
    return watch(targets, api_key=args.api_key, interval=args.interval, timeout=args.timeout)


def _sidecar(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        apps = _apps(args)
    except ValueError as exc:
        print(f"kugel sidecar: {exc}", file=sys.stderr)
        return 2
    if not apps:
        print("kugel sidecar: give --app APP_ID:PORT[:APP_URL] or --app-id", file=sys.stderr)
        return 2
    paths = args.resources_path or _default_resources()
    missing = [str(p) for p in paths if not p.is_dir()]
    if missing:
        print(f"kugel sidecar: no such resources folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    if not paths:
        print("kugel sidecar: no dapr/components or ~/.dapr/components folder: serving dapr "
              "init's components, pubsub and statestore, on the Redis at localhost:6379 (or "
              "the embedded store when none answers, with --state-backend auto)",
              file=sys.stderr)
    for note in _notes(args):
        print(f"kugel sidecar: {note}", file=sys.stderr)
    from .dapr.sidecar import (
        AppDirectory,
        AppSpec,
        ComponentError,
        DataDirUnusable,
        LocalSidecar,
        PeerSecretError,
        RedisUnreachable,
        host_address,
        load_components,
        load_resiliency,
        load_subscriptions,
    )
    from .dapr.sidecar._components import dapr_init_components

    data_dir = None if args.in_memory else args.data_dir
    directory = None  # --app-id: one app's sidecar among others, as daprd
    if args.app_id and data_dir is not None:
        directory = AppDirectory(data_dir / "apps")
    try:
        components = load_components(paths) if paths else dapr_init_components()
        resiliency = load_resiliency(paths)
        subscriptions = load_subscriptions(paths)
        sidecar = LocalSidecar([AppSpec(*app) for app in apps], components,
                               data_dir=data_dir,
                               api_token=os.environ.get("DAPR_API_TOKEN"),
                               app_api_token=os.environ.get("APP_API_TOKEN"),
                               namespace=os.environ.get("NAMESPACE"),  # None when unset
                               state_backend=args.state_backend,
                               resiliency=resiliency, subscriptions=subscriptions,
                               directory=directory, max_body_size=_max_body_size(args),
                               graceful_shutdown=args.dapr_graceful_shutdown_seconds,
                               peer_address=(host_address(), args.dapr_internal_grpc_port))
        asyncio.run(_serve(sidecar))
    except (ComponentError, DataDirUnusable, PeerSecretError, RedisUnreachable) as exc:
        print(f"kugel sidecar: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``kugel sidecar`` needs the sidecar extra: without it, say which extra to install
    instead of printing a traceback."""
    try:
        return _run(argv)
    except ModuleNotFoundError as exc:
        if not str(exc).startswith("kugel_common."):
            raise
        print(f"kugel: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
