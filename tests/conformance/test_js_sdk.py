"""The official JavaScript SDK (@dapr/dapr, HTTP mode) against the local sidecar: the suite in
js/, run by node. ``make conformance`` installs its packages (npm ci) and runs it with a count;
here it runs only when node and those packages are already there."""

from __future__ import annotations

import shutil

import pytest

from .sdk_js import JS_DIR, run_js_suite

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None,
                       reason="node is not installed: the JavaScript SDK tests need it"),
    pytest.mark.skipif(not (JS_DIR / "node_modules" / "@dapr" / "dapr").is_dir(),
                       reason="no tests/conformance/js/node_modules: `make conformance` installs "
                              "them (npm ci)"),
]


def test_the_javascript_sdk_works_with_the_local_sidecar() -> None:
    result = run_js_suite()
    assert result.returncode == 0, result.output
    assert result.counts["fail"] == 0 and result.counts["pass"] > 0, result.output
