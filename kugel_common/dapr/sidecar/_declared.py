"""Declarative ``kind: Subscription`` files, and how daprd merges them with the app's own.

``dapr.io/v1alpha1`` names one ``spec.route``; ``dapr.io/v2alpha1`` has ``spec.routes``
(``rules`` and ``default``), each read only under its own apiVersion. ``scopes`` limit a file
to the app ids it names. Merged per (pubsub, topic) as daprd's component store lists them: the
first declarative one in file order, replaced by the app's programmatic one when the app
subscribes to the same topic (pkg/runtime/compstore/subscriptions.go).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._components import ComponentError, resource_documents
from ._delivery import Subscription, subscription_of

__all__ = ["Declared", "load_subscriptions", "merge_subscriptions"]

logger = logging.getLogger("kugel_common.dapr.sidecar")


@dataclass(frozen=True, slots=True)
class Declared:
    name: str
    subscription: Subscription
    scopes: tuple[str, ...] = ()

    def applies_to(self, app_id: str) -> bool:
        return not self.scopes or app_id in self.scopes


def load_subscriptions(paths: Iterable[Path]) -> list[Declared]:
    """Every Subscription file of the resources paths; ComponentError for one daprd refuses."""
    declared: list[Declared] = []
    for source, _, document in resource_documents(paths, "Subscription"):
        version = document.get("apiVersion")
        if version not in ("dapr.io/v1alpha1", "dapr.io/v2alpha1"):
            continue
        metadata, spec = document.get("metadata"), document.get("spec")
        if not isinstance(metadata, dict) or not isinstance(spec, dict):
            raise ComponentError(f"{source}: a Subscription needs metadata and spec")
        entry = {key: spec.get(key) for key in
                 ("pubsubname", "topic", "deadLetterTopic", "metadata", "bulkSubscribe")}
        if version == "dapr.io/v1alpha1":
            entry["route"] = spec.get("route")
        else:
            entry["routes"] = spec.get("routes")
        try:
            subscription = subscription_of(entry, kind="DECLARATIVE")
        except (ValueError, TypeError, AttributeError) as exc:
            raise ComponentError(f"{source}: Subscription {metadata.get('name')}: {exc}") \
                from exc
        if not subscription.default_route and not subscription.rules:
            logger.warning("%s: Subscription %s has no route: daprd drops every event of %s",
                           source, metadata.get("name"), subscription.topic)
        declared.append(Declared(str(metadata.get("name", "")), subscription,
                                 tuple(str(s) for s in document.get("scopes") or ())))
    names = [d.name for d in declared]
    if len(set(names)) != len(names):
        raise ComponentError(f"Subscriptions defined twice: "
                             f"{sorted({n for n in names if names.count(n) > 1})}")
    return declared


def merge_subscriptions(app_id: str, declared: Sequence[Declared],
                        programmatic: Sequence[Subscription]) -> list[Subscription]:
    """What daprd subscribes for ``app_id``: one subscription per (pubsub, topic)."""
    merged: dict[tuple[str, str], Subscription] = {}
    for item in declared:
        if item.applies_to(app_id):
            sub = item.subscription
            merged.setdefault((sub.pubsub, sub.topic), sub)
    for sub in programmatic:
        merged[(sub.pubsub, sub.topic)] = sub
    return list(merged.values())
