"""Which topics of a pub/sub component an app may publish to and subscribe to.

daprd reads four component settings (dapr pkg/scopes/scopes.go, and IsOperationAllowed in
pkg/runtime/pubsub/adapter.go), names matched whatever their case, spaces removed:

- ``allowedTopics: a,b``: no app may use any other topic;
- ``protectedTopics: c``: only apps that a scope names for ``c`` may use it;
- ``publishingScopes`` / ``subscriptionScopes: app1=a,b;app2=c``: an app that a scope lists
  may use only the topics listed for it; an app it does not list is not restricted by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._components import Component

__all__ = ["TopicScopes"]


@dataclass(frozen=True, slots=True)
class TopicScopes:
    allowed: tuple[str, ...]
    protected: tuple[str, ...]
    publishing: tuple[str, ...]
    subscribing: tuple[str, ...]

    @classmethod
    def of(cls, component: Component, app_id: str) -> TopicScopes:
        settings = component.metadata
        return cls(allowed=_topics(_setting(settings, "allowedTopics")),
                   protected=_topics(_setting(settings, "protectedTopics")),
                   publishing=_scoped(_setting(settings, "publishingScopes"), app_id),
                   subscribing=_scoped(_setting(settings, "subscriptionScopes"), app_id))

    def may_publish(self, topic: str) -> bool:
        return self._allows(topic, self.publishing)

    def may_subscribe(self, topic: str) -> bool:
        return self._allows(topic, self.subscribing)

    def _allows(self, topic: str, scoped: tuple[str, ...]) -> bool:
        if self.allowed and topic not in self.allowed:
            return False
        if topic not in self.protected and not scoped:
            return True
        return topic in scoped


def _setting(settings: Mapping[str, str], name: str) -> str:
    return next((value for key, value in settings.items() if key.lower() == name.lower()), "")


def _topics(value: str) -> tuple[str, ...]:
    """``a, b,a`` is (a, b): empty means no list at all, but ``,`` is the topic ``""``."""
    value = value.replace(" ", "")
    return tuple(dict.fromkeys(value.split(","))) if value else ()


def _scoped(value: str, app_id: str) -> tuple[str, ...]:
    topics: list[str] = []
    for entry in value.replace(" ", "").split(";") if value else ():
        app, separator, listed = entry.partition("=")
        if separator and app == app_id:
            topics += listed.split("=")[0].split(",")
    return tuple(dict.fromkeys(topics))
