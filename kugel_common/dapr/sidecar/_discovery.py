"""Reading an app's ``GET /dapr/subscribe`` until it gives a usable answer.

daprd asks once: an app that answers 401 (a wrong ``APP_API_TOKEN``), 500 or garbage at that
moment gets no subscriptions until the sidecar restarts, and daprd's log line gives only the
status. Here a failed answer is asked again, with backoff, until the app answers usably (its
fix deployed, or restarted with the right token), and the log says what to fix.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_never
from tenacity.wait import wait_exponential

from ._delivery import Subscription, parse_subscriptions

__all__ = ["DiscoveryFailed", "read_subscriptions"]

logger = logging.getLogger("kugel_common.dapr.sidecar")

# Until the app listens, as daprd waits for the app port; then failed answers back off to this.
APP_STARTING_POLL = 0.2
LONGEST_WAIT = 10.0


class DiscoveryFailed(Exception):
    """The app answered ``GET /dapr/subscribe``, but not with subscriptions the sidecar can
    use: the message says why and what to check."""


def _why(app_id: str, reply: httpx.Response, token_sent: bool) -> str:
    status = reply.status_code
    if status in (401, 403):
        token = ("the APP_API_TOKEN this sidecar sends" if token_sent
                 else "no token: APP_API_TOKEN is not set for this sidecar")
        return (f"{app_id} refused GET /dapr/subscribe with {status}: it expects the "
                f"dapr-api-token its own APP_API_TOKEN names, and got {token}; give both "
                "the same APP_API_TOKEN")
    return f"{app_id} answered GET /dapr/subscribe with {status}; expected 200 or 404"


def _parse(app_id: str, reply: httpx.Response, token_sent: bool) -> list[Subscription]:
    """404 means no programmatic subscriptions, as in daprd."""
    if reply.status_code == 404:
        return []
    if reply.status_code != 200:
        raise DiscoveryFailed(_why(app_id, reply, token_sent))
    try:
        return parse_subscriptions(reply.json())
    except ValueError as exc:  # not JSON, or not daprd's shape
        raise DiscoveryFailed(f"{app_id}'s GET /dapr/subscribe is unusable: {exc}") from None


def _wait(retry_state: RetryCallState) -> float:
    """An app not listening yet is polled quickly; a wrong answer backs off."""
    failure = retry_state.outcome.exception() if retry_state.outcome else None
    if isinstance(failure, httpx.TransportError):
        return APP_STARTING_POLL
    return float(wait_exponential(multiplier=0.5, max=LONGEST_WAIT)(retry_state))


async def read_subscriptions(
    http: httpx.AsyncClient, app_id: str, app_url: str, headers: Mapping[str, str],
    sleep: Callable[[float], Awaitable[None]],
) -> list[Subscription]:
    """Ask until the app answers usably. Each new reason is logged once at ERROR, and the
    recovery at INFO, so a misconfiguration is one line, not one per attempt."""
    logged: list[str] = []

    def log_reason(retry_state: RetryCallState) -> None:
        failure = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(failure, DiscoveryFailed) and (not logged or logged[-1] != str(failure)):
            logged.append(str(failure))
            logger.error("%s; asking again until it does", failure)

    token_sent = "dapr-api-token" in headers
    async for attempt in AsyncRetrying(
            retry=retry_if_exception_type((httpx.TransportError, DiscoveryFailed)),
            wait=_wait, stop=stop_never, sleep=sleep, before_sleep=log_reason):
        with attempt:
            reply = await http.get(f"{app_url}/dapr/subscribe", headers=dict(headers))
            subscriptions = _parse(app_id, reply, token_sent)
    if logged:
        logger.info("%s: read %d subscriptions from GET /dapr/subscribe after it failed",
                    app_id, len(subscriptions))
    return subscriptions
