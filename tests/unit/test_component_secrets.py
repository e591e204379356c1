"""Component settings the local sidecar cannot honour are refused at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from kugel_common.dapr.sidecar import Component, ComponentError, load_components

STORE = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.redis
  version: v1
  metadata:
    - name: redisHost
      value: localhost:6379
"""


def test_a_secret_key_ref_is_refused_rather_than_read_as_empty(tmp_path: Path) -> None:
    """There are no secret stores here: the password would silently be "", so the file is
    refused, naming the setting."""
    (tmp_path / "store.yaml").write_text(STORE + """\
    - name: redisPassword
      secretKeyRef:
        name: redis
        key: password
""")
    with pytest.raises(ComponentError):
        load_components([tmp_path])


def test_plain_values_still_load(tmp_path: Path) -> None:
    (tmp_path / "store.yaml").write_text(STORE)
    [component] = load_components([tmp_path])
    assert component.metadata == {"redisHost": "localhost:6379"}


def test_yaml_scalars_become_the_text_daprd_reads() -> None:
    component = Component.from_document({
        "metadata": {"name": "c"}, "spec": {"type": "state.redis", "metadata": [
            {"name": "enableTLS", "value": True}, {"name": "failover", "value": False},
            {"name": "redisDB", "value": 3}, {"name": "redisPassword", "value": None},
            {"name": "redisUsername"}]}}, "file.yaml")
    assert component.metadata == {"enableTLS": "true", "failover": "false", "redisDB": "3",
                                  "redisPassword": "", "redisUsername": ""}


def _component_file(folder: Path, file: str, name: str, value: str) -> None:
    (folder / file).write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: " + name + "\n"
        "spec:\n  type: state.redis\n  version: v1\n  metadata:\n"
        "    - name: keyPrefix\n      value: \"" + value + "\"\n")


def test_errors_found_after_loading_still_name_the_file(tmp_path: Path) -> None:
    _component_file(tmp_path, "a.yaml", "store", "appid")
    _component_file(tmp_path, "b.yaml", "store", "appid")
    with pytest.raises(ComponentError) as twice:
        load_components([tmp_path])
    assert "a.yaml" in str(twice.value) and "b.yaml" in str(twice.value)
    (tmp_path / "b.yaml").unlink()
    _component_file(tmp_path, "a.yaml", "store", "{podName}")
    [component] = load_components([tmp_path])
    with pytest.raises(ComponentError) as pod:
        component.for_app("cart")
    assert str(tmp_path / "a.yaml") in str(pod.value)
