"""Dapr component files, read the way daprd reads them: the same YAML serves both."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

__all__ = ["SUPPORTED_TYPES", "Component", "ComponentError", "UnsupportedComponent",
           "check_supported", "current_namespace", "dapr_init_components", "load_components",
           "resource_documents"]

# What the local sidecar can stand in for; daprd loads many more.
SUPPORTED_TYPES = frozenset({"pubsub.in-memory", "pubsub.redis", "state.in-memory",
                             "state.redis"})


class ComponentError(ValueError):
    """A component file that daprd would refuse to load."""


class UnsupportedComponent(ComponentError):
    """A component type the local sidecar cannot stand in for (daprd may well load it):
    refused at start-up rather than served with rules it does not have."""


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    type: str  # e.g. "pubsub.redis", "state.redis"
    version: str = "v1"
    metadata: Mapping[str, str] = field(default_factory=dict)
    scopes: tuple[str, ...] = ()  # empty: every app may use it
    ignore_errors: bool = False  # spec.ignoreErrors: daprd skips it when its Init fails
    source: str = field(default="", compare=False)  # the file it came from, for messages

    @property
    def kind(self) -> str:
        """``pubsub`` or ``state``: the building block, whatever backs it."""
        return self.type.split(".", 1)[0]

    def visible_to(self, app_id: str) -> bool:
        return not self.scopes or app_id in self.scopes

    def setting(self, name: str) -> str | None:
        """A metadata value whose name matches ``name`` in any case, as daprd's metadata
        decoding matches names (an exact match first); None when it is not given."""
        if name in self.metadata:
            return self.metadata[name]
        return next((value for key, value in self.metadata.items()
                     if key.lower() == name.lower()), None)

    def for_app(self, app_id: str, namespace: str | None = None) -> Component:
        """The component as the sidecar of ``app_id`` loads it: daprd replaces placeholders
        in every metadata value (``pkg/runtime/meta/meta.go``), so that ``consumerID:
        "{appID}"`` is a consumer group per app and ``"{uuid}"`` one per sidecar start.
        ``{podName}`` exists only on Kubernetes: self-hosted daprd fails to load it."""
        resolved = {name: _resolve(self, name, value, app_id, current_namespace(namespace))
                    for name, value in self.metadata.items()}
        return self if resolved == self.metadata else replace(self, metadata=resolved)

    @classmethod
    def from_document(cls, document: Mapping[str, Any], source: str) -> Component:
        try:
            spec = document["spec"]
            ignore_errors = spec.get("ignoreErrors", False)
            if not isinstance(ignore_errors, bool):
                raise TypeError(f"spec.ignoreErrors is {ignore_errors}, not true or false")
            items = spec.get("metadata") or []
            secret = sorted(str(i.get("name")) for i in items if "secretKeyRef" in i)
            component = cls(
                name=str(document["metadata"]["name"]),
                type=str(spec["type"]),
                version=str(spec.get("version", "v1")),
                metadata={str(i["name"]): _text(i.get("value")) for i in items},
                scopes=tuple(str(s) for s in document.get("scopes") or ()),
                ignore_errors=ignore_errors, source=source,
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ComponentError(f"{source}: not a valid Dapr component ({exc!r})") from exc
        if secret:  # daprd would read them from a secret store; silently empty is worse
            raise ComponentError(
                f"{source}: component {component.name!r} takes {', '.join(secret)} from a "
                "secretKeyRef, but the local sidecar has no secret stores: give the value")
        return component


def _text(value: Any) -> str:
    """A metadata value as daprd's ``DynamicValue.String`` gives it: YAML's ``true`` is
    ``true``, not Python's ``True``, and an empty value is empty, not ``None``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def current_namespace(namespace: str | None) -> str:
    """The namespace daprd's runtime works in: its ``NAMESPACE`` environment variable, or
    ``default`` when that is not set (``security.CurrentNamespace``). Only ``keyPrefix`` reads
    the variable itself, so there an unset one is empty."""
    return "default" if namespace is None else namespace


def _resolve(component: Component, name: str, value: str, app_id: str, namespace: str) -> str:
    while "{uuid}" in value:  # a new one for each occurrence, as daprd
        value = value.replace("{uuid}", str(uuid.uuid4()), 1)
    if "{podName}" in value:
        raise ComponentError(f"{component.source or 'component'}: component {component.name}: "
                             f"metadata {name} refers to {{podName}}, which only a sidecar on "
                             "Kubernetes has")
    return value.replace("{namespace}", f"{namespace}.{app_id}").replace("{appID}", app_id)


def check_supported(component: Component, source: str) -> None:
    """Refuse a component the local sidecar does not support, naming where it came from."""
    if component.type not in SUPPORTED_TYPES:
        raise UnsupportedComponent(
            f"{source}: component {component.name!r} has type {component.type!r}, which the "
            f"local sidecar does not support (it runs {', '.join(sorted(SUPPORTED_TYPES))})")


def resource_documents(paths: Iterable[Path], kind: str) -> Iterator[tuple[str, int, Any]]:
    """``(file, position in the file, document)`` for each document of ``kind`` in the YAML
    files of the given folders, in daprd's order: folder by folder, files sorted by name."""
    for folder in paths:
        for file in sorted(folder.glob("*.y*ml")):
            for index, document in enumerate(_documents(file)):
                if isinstance(document, dict) and document.get("kind") == kind:
                    yield str(file), index, document


def _documents(file: Path) -> list[Any]:
    """Every document of one file, or a :class:`ComponentError` naming it: a file that is
    not UTF-8 or not YAML is a configuration error like any other, not a traceback."""
    try:
        return list(yaml.safe_load_all(file.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        why = " ".join(str(exc).split())  # one line, as every other config error
        raise ComponentError(f"{file}: cannot be read as YAML ({why})") from exc


def load_components(paths: Iterable[Path]) -> list[Component]:
    """Every ``kind: Component`` in the YAML files of the given folders (other kinds, such as
    Resiliency or Configuration, are read by their own loaders, or skipped as daprd allows). A
    type outside :data:`SUPPORTED_TYPES` is :class:`UnsupportedComponent`."""
    components = []
    for file, _, document in resource_documents(paths, "Component"):
        component = Component.from_document(document, file)
        check_supported(component, file)
        components.append(component)
    names = [c.name for c in components]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        files = sorted({c.source for c in components if c.name in duplicates})
        raise ComponentError(f"components defined twice: {', '.join(sorted(duplicates))} "
                             f"(in {', '.join(files)})")
    return components


def dapr_init_components() -> list[Component]:
    """What ``dapr init`` writes to ``~/.dapr/components``: ``pubsub`` and ``statestore`` on
    the Redis at localhost:6379, for a sidecar started with no resources folder at all."""
    redis = {"redisHost": "localhost:6379", "redisPassword": ""}
    return [Component("pubsub", "pubsub.redis", metadata=redis, source="dapr init's defaults"),
            Component("statestore", "state.redis", metadata=redis,
                      source="dapr init's defaults")]
