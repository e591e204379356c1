"""The whole-repo consistency checks. Each takes parsed files and returns its problems, so a
test can run it on the real files (no problems) and on a broken copy (a problem named)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from kugel_common.dapr.sidecar import Component
from kugel_common.repositories import WebRepository

Doc = dict[str, Any]


def compose_apps(compose: Doc) -> dict[str, tuple[str, int]]:
    """app service -> (app id, port), read from each daprd sidecar's command line."""
    found: dict[str, tuple[str, int]] = {}
    for service in compose["services"].values():
        command = service.get("command") or []
        if "./daprd" in command:
            app = service["network_mode"].removeprefix("service:")
            found[app] = (_flag(command, "--app-id"), int(_flag(command, "--app-port")))
    return found


def k8s_apps(documents: Iterable[Doc]) -> dict[str, tuple[str, int]]:
    found = {}
    for doc in documents:
        if doc.get("kind") == "StatefulSet":
            annotations = doc["spec"]["template"]["metadata"]["annotations"]
            found[doc["metadata"]["name"]] = (annotations["dapr.io/app-id"],
                                              int(annotations["dapr.io/app-port"]))
    return found


def _flag(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def one_sidecar_per_service(compose: Doc, k8s: list[Doc], services: Iterable[str]) -> list[str]:
    problems = []
    sidecars = [s for s in compose["services"].values() if "./daprd" in (s.get("command") or [])]
    per_app = [s["network_mode"].removeprefix("service:") for s in sidecars]
    apps, deployments = compose_apps(compose), k8s_apps(k8s)
    for name in services:
        if per_app.count(name) != 1:
            problems.append(f"compose: {name} has {per_app.count(name)} sidecars")
        port = int(compose["services"][name]["environment"]["PORT"])
        if apps.get(name) != (name, port):
            problems.append(f"compose: {name}'s sidecar says {apps.get(name)}, app is {port}")
        containers = [c for d in k8s if d.get("kind") == "StatefulSet"
                      and d["metadata"]["name"] == name
                      for c in d["spec"]["template"]["spec"]["containers"]]
        if not containers or deployments.get(name) != (
                name, containers[0]["ports"][0]["containerPort"]):
            problems.append(f"k8s: {name}'s dapr annotations do not match its container")
    return problems


def compose_and_k8s_agree(compose: Doc, k8s: list[Doc]) -> list[str]:
    ours, theirs = compose_apps(compose), k8s_apps(k8s)
    return [] if ours == theirs else [f"compose {ours} != kubernetes {theirs}"]


def names_used_in_code_exist(components: list[Component], uses: Mapping[str, Doc]) -> list[str]:
    """``uses``: app id -> {"stores": [...], "publishes": [(pubsub, topic)],
    "subscribes": [(pubsub, topic)]}, read from the services' code."""
    problems = []
    by_name = {c.name: c for c in components}

    def visible(name: str, kind: str, app: str) -> None:
        component = by_name.get(name)
        if component is None or component.kind != kind:
            problems.append(f"{app} uses {kind} {name!r}, which dapr/components lacks")
        elif not component.visible_to(app):
            problems.append(f"{app} uses {name!r}, but its scopes leave {app} out")

    published, subscribed = set(), set()
    for app, use in uses.items():
        for store in use["stores"]:
            visible(store, "state", app)
        for pubsub, topic in use["publishes"]:
            visible(pubsub, "pubsub", app)
            published.add((pubsub, topic))
        for pubsub, topic in use["subscribes"]:
            visible(pubsub, "pubsub", app)
            subscribed.add((pubsub, topic))
    problems += [f"{t} is published but nobody subscribes" for t in published - subscribed]
    problems += [f"{t} is subscribed but nobody publishes" for t in subscribed - published]
    return problems


def called_services(container: Any) -> set[str]:
    """The services a service's container calls: the ``service`` of its web repositories."""
    called = set()
    for provider in container.providers.values():
        provides = getattr(provider, "provides", None)
        if isinstance(provides, type) and issubclass(provides, WebRepository):
            called.add(provides.service)
    return called


def base_urls_are_set(compose: Doc, k8s: list[Doc], calls: Mapping[str, set[str]]) -> list[str]:
    problems = []
    for app, targets in calls.items():
        compose_env = compose["services"][app]["environment"]
        k8s_env = {e["name"] for d in k8s if d.get("kind") == "StatefulSet"
                   and d["metadata"]["name"] == app
                   for c in d["spec"]["template"]["spec"]["containers"] for e in c["env"]}
        for target in targets:
            variable = f"BASE_URL_{target.upper().replace('-', '_')}"
            if variable not in compose_env:
                problems.append(f"compose: {app} calls {target} but sets no {variable}")
            if variable not in k8s_env:
                problems.append(f"k8s: {app} calls {target} but sets no {variable}")
    return problems


_PINNED = re.compile(r"^[\w./-]+:(\d+\.\d+[\w.-]*)$")


def images_are_pinned(compose: Doc, k8s: list[Doc], dockerfile: str) -> list[str]:
    images = [s["image"] for s in compose["services"].values() if "image" in s]
    images += [c["image"] for d in k8s if d.get("kind") in ("StatefulSet", "Deployment")
               for c in d["spec"]["template"]["spec"]["containers"]]
    images += re.findall(r"^ARG PYTHON_IMAGE=(\S+)", dockerfile, flags=re.M)
    return [f"image {image!r} is not pinned to a version" for image in images
            if not _PINNED.match(image)]


def _port_of(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def collector_problems(config: Doc) -> list[str]:
    """The collector's own configuration: pipelines name defined components, traces come in
    over OTLP, metrics also from the scrape, which sends the API key."""
    problems = []
    for pipeline, spec in config["service"]["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            problems += [f"{pipeline} uses undefined {kind[:-1]} {n!r}"
                         for n in spec.get(kind, []) if n not in config.get(kind, {})]
    pipelines = config["service"]["pipelines"]
    if "otlp" not in pipelines.get("traces", {}).get("receivers", []):
        problems.append("no traces pipeline from otlp")
    if "prometheus" not in pipelines.get("metrics", {}).get("receivers", []):
        problems.append("no metrics pipeline from the prometheus scrape")
    for job in config["receivers"]["prometheus"]["config"]["scrape_configs"]:
        if job.get("metrics_path") != "/metrics" or "X-API-KEY" not in job.get("http_headers",
                                                                                 {}):
            problems.append(f"scrape job {job['job_name']}: not /metrics with X-API-KEY")
    return problems


def telemetry_wired(compose: Doc, k8s: list[Doc], collector: Doc, dapr_config: Doc,
                    ports: Mapping[str, int]) -> list[str]:
    """Every service sends its spans to the collector and serves the ``/metrics`` it scrapes;
    daprd sends its spans there too; compose and Kubernetes alike. ``collector``: the
    compose collector's configuration; Kubernetes' is in its ConfigMap."""
    [name] = [n for n, s in compose["services"].items()
              if str(s.get("image", "")).startswith("otel/opentelemetry-collector")]
    protocols = collector["receivers"]["otlp"]["protocols"]
    grpc, http = _port_of(protocols["grpc"]["endpoint"]), _port_of(protocols["http"]["endpoint"])
    [configmap] = [d for d in k8s
                   if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == name]
    k8s_collector = yaml.safe_load(configmap["data"]["config.yaml"])
    problems = collector_problems(collector) + collector_problems(k8s_collector)
    [job] = collector["receivers"]["prometheus"]["config"]["scrape_configs"]
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    [k8s_job] = k8s_collector["receivers"]["prometheus"]["config"]["scrape_configs"]
    if not any(r.get("action") == "keep" and r["source_labels"] == [
            "__meta_kubernetes_pod_annotation_prometheus_io_scrape"]
               for r in k8s_job.get("relabel_configs", [])):
        problems.append("k8s: the scrape does not keep the pods annotated prometheus.io/scrape")
    services = [d for d in k8s if d.get("kind") == "Service" and d["metadata"]["name"] == name]
    if not services or {p["port"] for p in services[0]["spec"]["ports"]} != {grpc, http}:
        problems.append(f"k8s: no Service {name} with ports {grpc} and {http}")
    otel = dapr_config["spec"]["tracing"].get("otel", {})
    if (otel.get("endpointAddress"), otel.get("protocol")) != (f"{name}:{grpc}", "grpc"):
        problems.append(f"daprd's spans go to {otel.get('endpointAddress')}, not {name}:{grpc}")
    wanted = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{name}:{http}",
              "KUGEL_METRICS_ENABLED": "true"}
    for app, port in ports.items():
        if f"{app}:{port}" not in targets:
            problems.append(f"compose: {app}:{port} is not scraped")
        [pod] = [d["spec"]["template"] for d in k8s if d.get("kind") == "StatefulSet"
                 and d["metadata"]["name"] == app]
        annotations = pod["metadata"]["annotations"]
        if (annotations.get("prometheus.io/scrape"), annotations.get("prometheus.io/path"),
                annotations.get("prometheus.io/port")) != ("true", "/metrics", str(port)):
            problems.append(f"k8s: {app}'s prometheus.io annotations miss its /metrics")
        k8s_env = {e["name"]: e.get("value") for c in pod["spec"]["containers"]
                   for e in c["env"]}
        for where, env in (("compose", compose["services"][app]["environment"]),
                           ("k8s", k8s_env)):
            problems += [f"{where}: {app} sets {key}={env.get(key)!r}, not {value!r}"
                         for key, value in {**wanted, "OTEL_SERVICE_NAME": app}.items()
                         if env.get(key) != value]
    return problems
