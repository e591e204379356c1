"""docker-compose, Kubernetes and Dapr resources, validated offline, and kept consistent with
the code and with each other. Each consistency check is also shown catching drift."""

from __future__ import annotations

import copy
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from dependency_injector import providers

from kugel_common.dapr.sidecar import AppSpec, LocalSidecar, load_components
from kugel_common.fastapi import AppSettings
from services.stack import SERVICES

from . import consistency as check

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import gen_deploy  # noqa: E402


def load(relative: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((ROOT / relative).read_text()) if d]


COMPOSE = load("docker-compose.yml")[0]
K8S = (load("deploy/k8s/services.yaml") + load("deploy/k8s/dapr.yaml")
       + load("deploy/k8s/otel-collector.yaml"))
COLLECTOR = load("deploy/otel-collector.yaml")[0]
COMPONENTS = load_components([ROOT / "dapr" / "components"])
DOCKERFILE = (ROOT / "Dockerfile").read_text()
APPS = {name: importlib.import_module(f"services.{package}.app")
        for name, (package, _, _) in SERVICES.items()}
MODELS = {name: importlib.import_module(f"services.{package}.models")
          for name, (package, _, _) in SERVICES.items()}


def subscriptions(app: Any) -> list[dict[str, Any]]:
    """What the service's container subscribes to, if it subscribes at all."""
    if not hasattr(app.Container, "subscriber"):
        return []
    container = app.Container()
    container.app_settings.override(providers.Object(AppSettings(jwt_secret="j" * 32)))
    entries: list[dict[str, Any]] = container.subscriber().entries
    return entries


def uses_in_code() -> dict[str, dict[str, Any]]:
    """What each service's code uses: its state store, what it publishes and subscribes to."""
    uses: dict[str, dict[str, Any]] = {}
    for name, models in MODELS.items():
        use: dict[str, Any] = {"stores": [models.STORE], "publishes": [], "subscribes": []}
        if hasattr(models, "PUBSUB"):
            use["publishes"].append((models.PUBSUB, models.TOPIC))
        if entries := subscriptions(APPS[name]):
            use["subscribes"] = [(e["pubsubname"], e["topic"]) for e in entries]
            use["stores"].append(AppSettings().state_store)  # the consumer's claims
        uses[name] = use
    return uses


CALLS = {name: check.called_services(app.Container) for name, app in APPS.items()}

# -- the files are what the generator writes -------------------------------------------------


def test_committed_deploy_files_are_generated() -> None:
    for relative, text in gen_deploy.render().items():
        assert (ROOT / relative).read_text() == text, f"run `make deploy-files` ({relative})"


# -- offline validation ------------------------------------------------------------------------


def test_compose_files_validate_against_the_compose_spec() -> None:
    import check_jsonschema

    schema_path = (Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor"
                   / "compose-spec.json")
    schema = json.loads(schema_path.read_text())
    for name in ("docker-compose.yml", "docker-compose.direct.yml"):
        jsonschema.validate(load(name)[0], schema)
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["cart"]["depends_on"]["redis"]["condition"] = "when_ready"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_kubernetes_core_objects_validate() -> None:
    core = [d for d in K8S if not d["apiVersion"].startswith("dapr.io/")]
    assert {d["kind"] for d in core} == {"StatefulSet", "Service", "HorizontalPodAutoscaler",
                                         "Deployment", "ConfigMap", "ServiceAccount", "Role",
                                         "RoleBinding"}
    for doc in core:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    broken = copy.deepcopy(core[0])
    broken["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


KNOWN_TYPES = {"pubsub.redis", "state.redis"}


def dapr_problems(documents: list[dict[str, Any]]) -> list[str]:
    problems = []
    components = {d["metadata"]["name"] for d in documents if d.get("kind") == "Component"}
    for doc in documents:
        if not doc.get("apiVersion", "").startswith("dapr.io/"):
            continue
        name = doc.get("metadata", {}).get("name")
        if not name:
            problems.append(f"{doc.get('kind')}: no metadata.name")
        if doc["kind"] == "Component":
            spec = doc.get("spec", {})
            if spec.get("type") not in KNOWN_TYPES or spec.get("version") != "v1":
                problems.append(f"{name}: unknown type or version {spec.get('type')}")
            if not all({"name", "value"} <= set(m) for m in spec.get("metadata", [])):
                problems.append(f"{name}: metadata entries need name and value")
            problems += [f"{name}: scope {s!r} is not an app id"
                         for s in doc.get("scopes", []) if s not in SERVICES]
        elif doc["kind"] == "Resiliency":
            policies = doc["spec"]["policies"]
            for target, spec in doc["spec"]["targets"].get("components", {}).items():
                if target not in components:
                    problems.append(f"resiliency targets unknown component {target!r}")
                for direction in spec.values():
                    if direction.get("retry") not in policies.get("retries", {}):
                        problems.append(f"{target}: unknown retry policy")
        elif doc["kind"] != "Configuration":
            problems.append(f"{name}: unexpected kind {doc['kind']}")
    return problems


def test_dapr_resources_are_well_formed() -> None:
    local = (load("dapr/components/pubsub.yaml") + load("dapr/components/statestore.yaml")
             + load("dapr/config.yaml") + load("dapr/resiliency.yaml"))
    for documents in (local, K8S):
        assert dapr_problems(documents) == []
    broken = copy.deepcopy(local)
    broken[0]["scopes"].append("kart")
    broken[1]["spec"]["type"] = "pubsub.carrier-pigeon"
    assert len(dapr_problems(broken)) == 2


# -- consistency across the repository -------------------------------------------------------


def test_every_service_has_exactly_one_sidecar() -> None:
    assert check.one_sidecar_per_service(COMPOSE, K8S, SERVICES) == []
    broken = copy.deepcopy(COMPOSE)
    command = broken["services"]["cart-dapr"]["command"]
    command[command.index("--app-port") + 1] = "9999"
    del broken["services"]["report-dapr"]
    problems = check.one_sidecar_per_service(broken, K8S, SERVICES)
    assert any("cart" in p for p in problems) and any("report has 0" in p for p in problems)


def test_names_used_in_code_exist_with_the_right_scopes() -> None:
    uses = uses_in_code()
    assert uses["cart"]["publishes"] == [("pubsub-tranlog-report", "topic-tranlog")]
    assert ("pubsub-opencloselog-report", "topic-opencloselog") in uses["report"]["subscribes"]
    assert check.names_used_in_code_exist(COMPONENTS, uses) == []
    drifted = [c for c in COMPONENTS if c.name != "cartstore"]
    assert check.names_used_in_code_exist(drifted, uses) == [
        "cart uses state 'cartstore', which dapr/components lacks"]
    renamed = copy.deepcopy(uses)
    renamed["journal"]["subscribes"] = [("pubsub-tranlog-report", "topic-tranlogs")]
    assert any("nobody publishes" in p for p in check.names_used_in_code_exist(COMPONENTS,
                                                                                 renamed))


def test_every_called_service_has_its_base_url() -> None:
    assert CALLS["cart"] == {"master-data", "terminal"}
    assert CALLS["journal"] == {"cart"}
    assert check.base_urls_are_set(COMPOSE, K8S, CALLS) == []
    broken = copy.deepcopy(COMPOSE)
    del broken["services"]["cart"]["environment"]["BASE_URL_MASTER_DATA"]
    assert check.base_urls_are_set(broken, K8S, CALLS) == [
        "compose: cart calls master-data but sets no BASE_URL_MASTER_DATA"]


def test_image_tags_are_pinned() -> None:
    assert check.images_are_pinned(COMPOSE, K8S, DOCKERFILE) == []
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["redis"]["image"] = "redis:latest"
    assert check.images_are_pinned(broken, K8S, DOCKERFILE) == [
        "image 'redis:latest' is not pinned to a version"]
    assert check.images_are_pinned(COMPOSE, K8S, "ARG PYTHON_IMAGE=python\n") != []


def test_every_service_sends_spans_to_the_collector_and_is_scraped() -> None:
    ports = {name: port for name, (_, port, _) in SERVICES.items()}
    dapr_config = load("dapr/config.yaml")[0]
    assert check.telemetry_wired(COMPOSE, K8S, COLLECTOR, dapr_config, ports) == []
    compose, k8s, collector, config = (copy.deepcopy(x) for x in (COMPOSE, K8S, COLLECTOR,
                                                                  dapr_config))
    del compose["services"]["cart"]["environment"]["KUGEL_METRICS_ENABLED"]
    pod = next(d for d in k8s if d.get("kind") == "StatefulSet")["spec"]["template"]
    pod["metadata"]["annotations"]["prometheus.io/port"] = "9999"
    collector["receivers"]["prometheus"]["config"]["scrape_configs"][0][
        "static_configs"][0]["targets"].remove("journal:8005")
    collector["service"]["pipelines"]["traces"]["exporters"].append("jaeger")
    config["spec"]["tracing"]["otel"]["endpointAddress"] = "otel-collector:4318"
    problems = check.telemetry_wired(compose, k8s, collector, config, ports)
    assert problems == [
        "traces uses undefined exporter 'jaeger'",
        "daprd's spans go to otel-collector:4318, not otel-collector:4317",
        "k8s: terminal's prometheus.io annotations miss its /metrics",
        "compose: cart sets KUGEL_METRICS_ENABLED=None, not 'true'",
        "compose: journal:8005 is not scraped",
    ]


def test_the_collector_scrapes_with_a_key_the_services_accept() -> None:
    """The scrape's X-API-KEY comes from the secrets, and KUGEL_API_KEYS has it."""
    secrets = dict(line.split("=", 1) for line in (ROOT / "secrets.env.example").read_text()
                   .splitlines() if line and not line.startswith("#"))
    [job] = COLLECTOR["receivers"]["prometheus"]["config"]["scrape_configs"]
    [header] = job["http_headers"]["X-API-KEY"]["secrets"]
    variable = header.removeprefix("${env:").removesuffix("}")
    assert variable == gen_deploy.SCRAPE_KEY
    assert secrets[variable] in json.loads(secrets["KUGEL_API_KEYS"])
    collector = next(d for d in K8S if d["kind"] == "Deployment")
    [container] = collector["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [{"name": variable, "valueFrom": {"secretKeyRef": {
        "name": "kugel-secrets", "key": variable}}}]


def test_the_image_installs_what_the_services_import() -> None:
    """`pip install .` alone has no FastAPI and no uvicorn; /metrics needs prometheus-client."""
    import re
    import tomllib

    [extras] = re.findall(r'pip install .*"\.\[([\w,]+)\]"', DOCKERFILE)
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    installed = {re.split(r"[<>=\[ ]", r)[0] for e in extras.split(",") for r in optional[e]}
    assert {"fastapi", "uvicorn", "dependency-injector", "prometheus-client",
            "opentelemetry-api"} <= installed
    # services/_otel.py configures the SDK: the image adds it, bounded as in dev
    dev = set(optional["dev"])
    for wanted in ("opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http"):
        [pinned] = re.findall(rf'"({wanted}>=[\d.]+)"', DOCKERFILE)
        assert pinned in dev


def test_compose_and_kubernetes_agree_on_app_ids_and_ports() -> None:
    assert check.compose_and_k8s_agree(COMPOSE, K8S) == []
    broken = copy.deepcopy(K8S)
    deployment = next(d for d in broken if d.get("kind") == "StatefulSet")
    deployment["spec"]["template"]["metadata"]["annotations"]["dapr.io/app-port"] = "1"
    assert check.compose_and_k8s_agree(COMPOSE, broken) != []


async def test_the_local_sidecar_accepts_every_component_file(tmp_path: Path) -> None:
    files = sorted((ROOT / "dapr" / "components").glob("*.yaml"))
    assert [f.name for f in files] == ["pubsub.yaml", "statestore.yaml"]
    loaded = []
    for file in files:  # each file on its own, as the sidecar reads it
        folder = tmp_path / file.stem
        folder.mkdir()
        (folder / file.name).write_text(file.read_text())
        loaded += load_components([folder])
    assert loaded == COMPONENTS and len(loaded) == 4
    async with LocalSidecar([AppSpec(name) for name in SERVICES], COMPONENTS) as sidecar:
        for name, app in sidecar.sidecars.items():
            visible = {c.name for c in COMPONENTS if c.visible_to(name)}
            assert visible, f"{name} sees no component"
            assert all(app.may_publish(c, "any-topic") and app.may_subscribe(c, "any-topic")
                       for c in visible if c.startswith("pubsub"))


def test_every_outbox_lives_on_a_persistent_volume_claim() -> None:
    """A rescheduled pod must take its pending events along: no emptyDir under the outbox."""
    workloads = [d for d in load("deploy/k8s/services.yaml") if d["kind"] == "StatefulSet"]
    assert {w["metadata"]["name"] for w in workloads} == set(SERVICES)
    for workload in workloads:
        spec = workload["spec"]
        pod = spec["template"]["spec"]
        [container] = pod["containers"]
        outbox = next(e["value"] for e in container["env"] if e["name"] == "KUGEL_OUTBOX_PATH")
        [mount] = [m for m in container["volumeMounts"] if outbox.startswith(m["mountPath"])]
        claims = {c["metadata"]["name"] for c in spec["volumeClaimTemplates"]}
        assert mount["name"] in claims
        assert "volumes" not in pod or all("emptyDir" not in v for v in pod["volumes"])
        assert spec["persistentVolumeClaimRetentionPolicy"]["whenScaled"] == "Retain"


def test_the_image_starts_each_service_through_its_factory() -> None:
    assert "uvicorn --factory services.${SERVICE}.app:build " in DOCKERFILE
    assert all(callable(app.build) and not hasattr(app, "app") for app in APPS.values())


def _contains(lines: list[str], wanted: list[str]) -> bool:
    """``wanted`` appears in ``lines`` line for line, indented as a whole by any amount."""
    for i, line in enumerate(lines):
        indent = line[: len(line) - len(wanted[0])]
        if indent.strip() == "" and lines[i:i + len(wanted)] == [indent + w for w in wanted]:
            return True
    return False


def excerpt_problems(doc: str, root: Path) -> list[str]:
    """Each ```yaml block after ``<!-- excerpt: PATH -->`` is in PATH (a part of a nested
    file, or of a ConfigMap's text, indented as it is there)."""
    import re

    found = re.findall(r"<!-- excerpt: (\S+) -->\n```yaml\n(.*?)^```", doc,
                       flags=re.S | re.M)
    return [f"the excerpt of {path} starting {block.splitlines()[0]!r} is not in it"
            for path, block in found
            if not _contains((root / path).read_text().splitlines(), block.splitlines())]


def test_the_docs_show_the_deploy_files_as_they_are() -> None:
    doc = (ROOT / "docs" / "operations.md").read_text()
    assert doc.count("<!-- excerpt: ") == 3
    assert excerpt_problems(doc, ROOT) == []
    drifted = doc.replace("endpointAddress: otel-collector:4317", "endpointAddress: x:4317")
    assert excerpt_problems(drifted, ROOT) == [
        "the excerpt of dapr/config.yaml starting 'spec:' is not in it"]
