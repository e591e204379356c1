from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_doc_is_generated_from_the_model() -> None:
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "gen_config_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == module.render(), "run `make docs` and commit docs/configuration.md"
    from kugel_common import ClientSettings

    for name in ClientSettings.model_fields:
        assert f"`KUGEL_{name.upper()}`" in committed
