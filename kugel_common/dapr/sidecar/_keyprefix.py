"""The key a state store keeps for an app's key: daprd's ``keyPrefix`` (dapr 1.18,
``pkg/components/state/state_config.go``).

A state component's ``keyPrefix`` metadata (its name in any case, its value lowercased) is:

- ``appid``, the default: ``{appId}||{key}``, so each app id has keys of its own;
- ``name``: ``{component name}||{key}``, shared by every app id that uses the component;
- ``namespace``: ``{NAMESPACE}.{appId}||{key}``, or ``{appId}||{key}`` without a namespace;
- ``none``: the key as it is;
- any other text, the empty one included: that text as a literal prefix, ``{text}||{key}``.

A ``keyPrefix`` containing ``||`` fails the component's start-up. A key containing ``||`` is
refused whatever the strategy (the HTTP API checks it), so cutting the prefix off the keys a
bulk get answers with (``GetOriginalStateKey``) always gives back the key the app sent.
"""

from __future__ import annotations

from ._components import Component, ComponentError

__all__ = ["SEPARATOR", "key_prefix"]

SEPARATOR = "||"


def key_prefix(component: Component, app_id: str, namespace: str) -> str:
    """What goes before every key ``app_id`` sends to the state component (separator
    included, or ``""``); a :class:`ComponentError` for a ``keyPrefix`` daprd refuses."""
    given = component.setting("keyPrefix")
    strategy = "appid" if given is None else given.lower()
    if SEPARATOR in strategy:
        raise ComponentError(f"{component.source or 'component'}: state store {component.name}: "
                             f"keyPrefix {strategy} can't contain {SEPARATOR}")
    if strategy == "none" or (strategy in ("appid", "namespace") and not app_id):
        return ""
    prefix = {"appid": app_id, "name": component.name,
              "namespace": f"{namespace}.{app_id}" if namespace else app_id}.get(strategy,
                                                                                  strategy)
    return prefix + SEPARATOR
