"""Hooks for tracing, metrics export and alerting, shaped like stamina's.

A hook is any object with one or more of these methods, each receiving one frozen, slotted
details object::

    on_request(RequestDetails)          before each attempt is sent
    on_response(ResponseDetails)        after each attempt, answered or failed
    on_retry(RetryDetails)              before each backoff sleep
    on_breaker_change(BreakerChange)    when a service's breaker changes state

Pass any number of them: ``ServiceClientPool(hooks=[Tracer(), Alerts()])``. Why objects with
methods rather than one list of callables per kind: an observer usually needs several kinds and
shared state (a tracer opens a span in ``on_request`` and ends it in ``on_response``), and one
``hooks=`` parameter stays one parameter however many kinds there are. Each kind is a
``Protocol`` (:class:`RequestHook`, ...), so a type checker checks a hook's signature. The pool
sorts the hooks by kind once, so a kind that nobody listens to costs nothing per call.

Hooks are synchronous, so they cannot stall the request path; a hook that needs I/O hands the
work to a task or queue. A hook that raises is logged and never breaks a call.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeAlias, TypeVar, runtime_checkable

import httpx

from ._breaker import BreakerState

__all__ = [
    "BreakerChange",
    "BreakerHook",
    "Hook",
    "HookSet",
    "RequestDetails",
    "RequestHook",
    "ResponseDetails",
    "ResponseHook",
    "RetryDetails",
    "RetryHook",
    "emit",
]

logger = logging.getLogger("kugel_common.hooks")


@dataclass(frozen=True, slots=True)
class RequestDetails:
    service: str
    method: str
    url: str  # without query string or credentials
    endpoint: str  # the template, e.g. "/items/{code}"
    attempt: int  # 1-based


@dataclass(frozen=True, slots=True)
class ResponseDetails:
    service: str
    method: str
    url: str
    endpoint: str
    attempt: int
    elapsed: float  # seconds
    status_code: int | None  # None when the attempt raised
    error: BaseException | None


@dataclass(frozen=True, slots=True)
class RetryDetails:
    service: str
    method: str
    endpoint: str
    url: str  # of the attempt that failed, without query string or credentials
    attempt: int  # the attempt that failed, 1-based
    wait: float  # seconds until the next attempt
    cause: httpx.Response | BaseException  # what the failed attempt got


@dataclass(frozen=True, slots=True)
class BreakerChange:
    service: str
    old: BreakerState
    new: BreakerState


@runtime_checkable
class RequestHook(Protocol):
    def on_request(self, details: RequestDetails) -> None: ...


@runtime_checkable
class ResponseHook(Protocol):
    def on_response(self, details: ResponseDetails) -> None: ...


@runtime_checkable
class RetryHook(Protocol):
    def on_retry(self, details: RetryDetails) -> None: ...


@runtime_checkable
class BreakerHook(Protocol):
    def on_breaker_change(self, details: BreakerChange) -> None: ...


Hook: TypeAlias = RequestHook | ResponseHook | RetryHook | BreakerHook

D = TypeVar("D")


@dataclass(frozen=True, slots=True)
class HookSet:
    """The hooks of a pool, sorted by kind once."""

    request: tuple[Callable[[RequestDetails], None], ...] = ()
    response: tuple[Callable[[ResponseDetails], None], ...] = ()
    retry: tuple[Callable[[RetryDetails], None], ...] = ()
    breaker: tuple[Callable[[BreakerChange], None], ...] = ()

    @classmethod
    def of(cls, hooks: Iterable[Hook]) -> HookSet:
        hooks = tuple(hooks)
        for hook in hooks:
            if not isinstance(hook, RequestHook | ResponseHook | RetryHook | BreakerHook):
                raise TypeError(f"{hook!r} is not a hook: it has none of on_request, "
                                "on_response, on_retry, on_breaker_change")
            for kind in _KINDS:
                method = getattr(hook, kind, None)
                if method is not None and not callable(method):
                    raise TypeError(f"{hook!r}: {kind} is not callable")
                if inspect.iscoroutinefunction(method):
                    raise TypeError(f"{hook!r}: {kind} is async; hooks run on the request path "
                                    "and are not awaited: hand slow work to a task")
        return cls(
            tuple(hook.on_request for hook in hooks if isinstance(hook, RequestHook)),
            tuple(hook.on_response for hook in hooks if isinstance(hook, ResponseHook)),
            tuple(hook.on_retry for hook in hooks if isinstance(hook, RetryHook)),
            tuple(hook.on_breaker_change for hook in hooks if isinstance(hook, BreakerHook)),
        )


_KINDS = ("on_request", "on_response", "on_retry", "on_breaker_change")


def emit(hooks: tuple[Callable[[D], None], ...], details: D) -> None:
    """Call each hook with ``details``; one that raises is logged, and the rest still run."""
    for hook in hooks:
        try:
            hook(details)
        except Exception:
            logger.exception("kugel hook %r raised; the call goes on", hook)
