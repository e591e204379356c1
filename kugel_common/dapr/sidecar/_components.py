"""Dapr component files, read the way daprd reads them: the same YAML serves both."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Component", "ComponentError", "load_components"]


class ComponentError(ValueError):
    """A component file that daprd would refuse to load."""


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    type: str  # e.g. "pubsub.redis", "state.redis"
    version: str = "v1"
    metadata: Mapping[str, str] = field(default_factory=dict)
    scopes: tuple[str, ...] = ()  # empty: every app may use it

    @property
    def kind(self) -> str:
        """``pubsub`` or ``state``: the building block, whatever backs it."""
        return self.type.split(".", 1)[0]

    def visible_to(self, app_id: str) -> bool:
        return not self.scopes or app_id in self.scopes

    @classmethod
    def from_document(cls, document: Mapping[str, Any], source: str) -> Component:
        try:
            spec = document["spec"]
            items = spec.get("metadata") or []
            return cls(
                name=str(document["metadata"]["name"]),
                type=str(spec["type"]),
                version=str(spec.get("version", "v1")),
                metadata={str(i["name"]): str(i.get("value", "")) for i in items},
                scopes=tuple(str(s) for s in document.get("scopes") or ()),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ComponentError(f"{source}: not a valid Dapr component ({exc!r})") from exc


def load_components(paths: Iterable[Path]) -> list[Component]:
    """Every ``kind: Component`` in the YAML files of the given folders (other kinds, such as
    Resiliency or Configuration, are skipped, as daprd's resources path allows them)."""
    components: list[Component] = []
    for folder in paths:
        for file in sorted(folder.glob("*.y*ml")):
            for document in yaml.safe_load_all(file.read_text()):
                if isinstance(document, dict) and document.get("kind") == "Component":
                    components.append(Component.from_document(document, str(file)))
    names = [c.name for c in components]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ComponentError(f"components defined twice: {sorted(duplicates)}")
    return components
