"""deploy/k8s: each overlay renders, validates offline, and runs the system the way the code expects."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from tests.deploy import keda
from tests.deploy.files import ROOT
from tests.deploy.kustomize import MERGE_KEYS, load_documents, render
from worker import lanes
from worker.settings import ENV_NAMES, Settings

K8S = ROOT / "deploy" / "k8s"
OVERLAYS = {"redis": "redis", "rabbitmq": "rabbitmq"}
NAMESPACE = "scenario-worker"
SECRET = "scenario-worker"
SETTINGS_CONFIGMAP = "scenario-worker-settings"
METRICS_PORT = 9808
# The oldest Kubernetes still commonly run, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.29", kubernetes_validate.latest_version())
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}
# Variables whose value is a credential, or a URL that may hold one (user:password@).
SECRET_VARIABLE = re.compile(r"SECRET|PASSWORD|_KEY$|_AUTH$|_USER$")
CREDENTIAL_URLS = {"CELERY_BROKER_URL", "DATABASE_URL", "SCENARIO_REDIS_URL"}
URL_CREDENTIALS = re.compile(r"://[^/:@\s]+:[^@\s]+@")
# A setting the metrics exporter reads; not yet one of ENV_NAMES on every branch.
EXTRA_SETTINGS = {"SCENARIO_METRICS_PORT"}
BROKER_URLS = ("redis://redis:6379/0", "amqp://user:password@rabbitmq:5672//")


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


@pytest.fixture(scope="module", params=sorted(OVERLAYS))
def overlay(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def objects(overlay: str) -> list[dict[str, Any]]:
    return render(K8S / "overlays" / overlay)


@pytest.fixture(scope="module")
def by_key(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {_key(obj): obj for obj in objects}


def _of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def _container(obj: dict[str, Any]) -> dict[str, Any]:
    containers = _pod_spec(obj)["containers"]
    assert len(containers) == 1, f"{obj['metadata']['name']} has {len(containers)} containers"
    return containers[0]


def _argv(container: dict[str, Any]) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


def _queues_served(container: dict[str, Any]) -> set[str]:
    argv = _argv(container)
    if argv[:4] != ["celery", "-A", "worker", "worker"] or "-Q" not in argv:
        return set()
    return set(argv[argv.index("-Q") + 1].split(","))


def _workers(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [obj for obj in _of_kind(objects, "Deployment") if _queues_served(_container(obj))]


def _settings_data(by_key: dict[tuple[str, str], dict[str, Any]]) -> dict[str, str]:
    return by_key[("ConfigMap", SETTINGS_CONFIGMAP)]["data"]


def _is_secret(variable: str) -> bool:
    return bool(SECRET_VARIABLE.search(variable)) or variable in CREDENTIAL_URLS


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# --- rendering and validation ---


def test_every_overlay_renders_each_object_once_in_the_namespace(objects):
    keys = [_key(obj) for obj in objects]
    assert len(keys) == len(set(keys))
    assert {obj["metadata"].get("namespace") for obj in objects} == {NAMESPACE}
    assert {"Deployment", "Service", "Job", "ConfigMap", "PodDisruptionBudget", "ScaledObject"} <= {
        kind for kind, _ in keys
    }


def _normalized(obj: Any, field: str | None = None) -> Any:
    """Keyed lists sorted by their key: kustomize moves a patched item to the front, which changes nothing."""
    if isinstance(obj, dict):
        return {key: _normalized(value, key) for key, value in obj.items()}
    if isinstance(obj, list):
        items = [_normalized(item) for item in obj]
        key = MERGE_KEYS.get(field or "")
        return sorted(items, key=lambda item: str(item.get(key))) if key else items
    return obj


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on PATH")
def test_kubectl_kustomize_renders_the_same_objects(overlay, objects):
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    theirs = {_key(obj): json.dumps(_normalized(obj), sort_keys=True) for obj in load_documents(result.stdout)}
    ours = {_key(obj): json.dumps(_normalized(obj), sort_keys=True) for obj in objects}
    assert set(ours) == set(theirs)
    assert [key for key in ours if ours[key] != theirs[key]] == []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_kubernetes_object_passes_the_official_schema_strictly(objects, version):
    validated = 0
    for obj in objects:
        if obj["kind"] in KEDA_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}")
        validated += 1
    assert validated == len(objects) - len([obj for obj in objects if obj["kind"] in KEDA_KINDS])
    assert validated >= 15


def test_the_official_schema_check_refuses_a_misspelled_probe(objects):
    deployment = json.loads(json.dumps(_of_kind(objects, "Deployment")[0]))
    _container(deployment)["livenesProbe"] = _container(deployment).pop("livenessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_the_keda_objects_pass_their_schema(objects):
    keda_objects = [obj for obj in objects if obj["kind"] in KEDA_KINDS]
    assert {obj["kind"] for obj in keda_objects} == KEDA_KINDS
    for obj in keda_objects:
        keda.validate(obj)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda so: so["spec"].update(minReplicas=1), "an unknown spec field"),
        (lambda so: so["spec"]["triggers"][0]["metadata"].update(queue="x"), "an unknown trigger field"),
        (lambda so: so["spec"]["scaleTargetRef"].pop("name"), "no target"),
        (lambda so: so["spec"]["triggers"][0].update(type="kafka"), "a scaler not used here"),
    ],
)
def test_the_keda_schema_refuses_a_broken_scaled_object(objects, change, why):
    scaled = json.loads(json.dumps(_of_kind(objects, "ScaledObject")[0]))
    change(scaled)
    with pytest.raises(jsonschema.ValidationError):
        keda.validate(scaled)


# --- lanes and their scalers ---


def test_each_lane_has_one_worker_deployment_started_as_the_readme_says(objects):
    served: list[str] = []
    for worker in _workers(objects):
        argv = _argv(_container(worker))
        assert argv[:5] == ["celery", "-A", "worker", "worker", "--loglevel=INFO"]
        served.extend(_queues_served(_container(worker)))
    assert sorted(served) == sorted(lanes.ALL)


def test_a_scaled_object_per_lane_scales_the_deployment_serving_that_lane(objects, by_key, overlay):
    scaled_lanes = []
    for scaled in _of_kind(objects, "ScaledObject"):
        [trigger] = scaled["spec"]["triggers"]
        assert trigger["type"] == overlay
        lane = trigger["metadata"]["listName" if overlay == "redis" else "queueName"]
        target = by_key.get(("Deployment", scaled["spec"]["scaleTargetRef"]["name"]))
        assert target is not None, f"{scaled['metadata']['name']} scales a Deployment that does not exist"
        assert _queues_served(_container(target)) == {lane}
        scaled_lanes.append(lane)
    assert sorted(scaled_lanes) == sorted(lanes.ALL)


def test_no_lane_is_ever_scaled_to_zero_workers(objects):
    floors = {
        obj["metadata"]["name"]: obj["spec"].get("minReplicaCount", 0) for obj in _of_kind(objects, "ScaledObject")
    }
    assert floors and min(floors.values()) >= 1
    for scaled in _of_kind(objects, "ScaledObject"):
        assert scaled["spec"]["maxReplicaCount"] > scaled["spec"]["minReplicaCount"]


def test_scaled_deployments_leave_their_replica_count_to_keda(objects, by_key):
    for scaled in _of_kind(objects, "ScaledObject"):
        assert "replicas" not in by_key[("Deployment", scaled["spec"]["scaleTargetRef"]["name"])]["spec"]


def test_the_scalers_authenticate_from_the_secret(objects, by_key):
    for scaled in _of_kind(objects, "ScaledObject"):
        auth = by_key[("TriggerAuthentication", scaled["spec"]["triggers"][0]["authenticationRef"]["name"])]
        assert {ref["name"] for ref in auth["spec"]["secretTargetRef"]} == {SECRET}


def test_the_rabbitmq_scaler_reads_the_workers_own_broker_url():
    objects = render(K8S / "overlays" / "rabbitmq")
    [auth] = _of_kind(objects, "TriggerAuthentication")
    assert auth["spec"]["secretTargetRef"] == [{"parameter": "host", "name": SECRET, "key": "CELERY_BROKER_URL"}]


def test_the_redis_scaler_counts_the_database_of_the_broker():
    # The workers' broker URL names database 0 in every example the README gives.
    for scaled in _of_kind(render(K8S / "overlays" / "redis"), "ScaledObject"):
        assert scaled["spec"]["triggers"][0]["metadata"]["databaseIndex"] == "0"


def test_with_rabbitmq_every_worker_requires_a_redis_for_the_fleet_state():
    for worker in _workers(render(K8S / "overlays" / "rabbitmq")):
        env = {item["name"]: item for item in _container(worker)["env"]}
        assert env["SCENARIO_REDIS_URL"]["valueFrom"]["secretKeyRef"]["optional"] is False


def test_with_redis_the_fleet_state_may_live_in_the_broker():
    for worker in _workers(render(K8S / "overlays" / "redis")):
        env = {item["name"]: item for item in _container(worker)["env"]}
        assert env["SCENARIO_REDIS_URL"]["valueFrom"]["secretKeyRef"]["optional"] is True


def test_the_console_reads_scenarios_webhook_secret_from_the_secret_when_one_is_set(by_key):
    env = {item["name"]: item for item in _container(by_key[("Deployment", "console")])["env"]}
    ref = env["SCENARIO_WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": SECRET, "key": "SCENARIO_WEBHOOK_SECRET", "optional": True}


# --- pods ---


def test_every_container_has_requests_and_limits(objects):
    for obj in [*_of_kind(objects, "Deployment"), *_of_kind(objects, "Job")]:
        resources = _container(obj)["resources"]
        assert set(resources["requests"]) == {"cpu", "memory"}, obj["metadata"]["name"]
        assert set(resources["limits"]) == {"cpu", "memory"}, obj["metadata"]["name"]


def test_every_deployment_has_a_liveness_and_a_readiness_probe(objects):
    for deployment in _of_kind(objects, "Deployment"):
        container = _container(deployment)
        assert "livenessProbe" in container and "readinessProbe" in container, deployment["metadata"]["name"]


def test_workers_are_probed_by_the_health_command(objects):
    for worker in _workers(objects):
        container = _container(worker)
        assert container["livenessProbe"]["exec"]["command"] == ["scenario-worker", "health", "--worker"]
        assert container["readinessProbe"]["exec"]["command"] == ["scenario-worker", "health"]
        assert container["startupProbe"]["exec"]["command"] == ["scenario-worker", "health"]


def test_the_console_runs_under_gunicorn_and_is_probed_over_http(by_key):
    container = _container(by_key[("Deployment", "console")])
    assert _argv(container)[:4] == ["gunicorn", "worker.console.wsgi:application", "-b", "0.0.0.0:8080"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        http = container[probe]["httpGet"]
        assert http["path"] == path
        assert ports.get(http["port"], http["port"]) == 8080


def test_flower_is_probed_on_its_unauthenticated_healthcheck(by_key):
    container = _container(by_key[("Deployment", "flower")])
    assert _argv(container) == ["celery", "-A", "worker", "flower", "--port=5555"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthcheck"


def test_worker_pods_are_scraped_by_prometheus_on_the_metrics_port(objects, by_key):
    configured = int(_settings_data(by_key)["SCENARIO_METRICS_PORT"])
    assert configured == METRICS_PORT
    for worker in _workers(objects):
        annotations = worker["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(configured)
        assert annotations["prometheus.io/path"] == "/metrics"
        ports = {port["name"]: port["containerPort"] for port in _container(worker)["ports"]}
        assert ports["metrics"] == configured


@pytest.mark.parametrize("broker_url", BROKER_URLS)
def test_a_stopping_worker_has_time_to_finish_its_longest_task(objects, by_key, broker_url):
    configured = Settings.from_env({**_settings_data(by_key), "CELERY_BROKER_URL": broker_url})
    longest_s = max(configured.time_limit_s, Settings(broker_url=broker_url).time_limit_s)
    for worker in _workers(objects):
        assert _pod_spec(worker)["terminationGracePeriodSeconds"] >= longest_s, worker["metadata"]["name"]


def test_every_deployment_has_a_disruption_budget_of_its_own(objects):
    budgets = _of_kind(objects, "PodDisruptionBudget")
    deployments = _of_kind(objects, "Deployment")
    for deployment in deployments:
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [pdb for pdb in budgets if _selects(pdb["spec"]["selector"]["matchLabels"], labels)]
        assert len(covering) == 1, f"{deployment['metadata']['name']}: {len(covering)} budgets"
    for pdb in budgets:
        selected = [
            d
            for d in deployments
            if _selects(pdb["spec"]["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"])
        ]
        assert len(selected) == 1, f"{pdb['metadata']['name']} selects {len(selected)} deployments"


def test_every_service_reaches_a_named_port_of_the_pods_it_selects(objects):
    deployments = _of_kind(objects, "Deployment")
    for service in _of_kind(objects, "Service"):
        [deployment] = [
            d for d in deployments if _selects(service["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
        ]
        names = {port["name"] for port in _container(deployment)["ports"]}
        assert {port["targetPort"] for port in service["spec"]["ports"]} <= names


def test_deployment_selectors_match_their_own_pods(objects):
    for deployment in _of_kind(objects, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert _selects(deployment["spec"]["selector"]["matchLabels"], labels)


def test_the_migration_job_upgrades_the_schema(by_key):
    assert _argv(_container(by_key[("Job", "migrate")])) == ["scenario-worker", "db", "upgrade"]


def test_every_image_is_the_projects_at_its_version(objects):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    images = {
        container["image"]
        for obj in objects
        if "template" in obj.get("spec", {})
        for container in _pod_spec(obj)["containers"]
    }
    assert images == {f"scenario-worker:{version}"}


def test_pods_run_as_the_images_unprivileged_user(objects):
    for obj in [*_of_kind(objects, "Deployment"), *_of_kind(objects, "Job")]:
        pod = _pod_spec(obj)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert _container(obj)["securityContext"]["allowPrivilegeEscalation"] is False


# --- settings and secrets ---


def test_the_settings_configmap_holds_known_settings_the_code_accepts(by_key):
    data = _settings_data(by_key)
    assert set(data) <= set(ENV_NAMES.values()) | EXTRA_SETTINGS
    Settings.from_env(data)


def test_the_recovery_runs_in_the_workers_so_no_beat_process_is_deployed(objects, by_key):
    assert float(_settings_data(by_key).get("SCENARIO_RECOVERY_INTERVAL_S", Settings().recovery_interval_s)) > 0
    commands = [
        " ".join(_argv(c)) for obj in objects if "template" in obj.get("spec", {}) for c in _pod_spec(obj)["containers"]
    ]
    assert [command for command in commands if " beat" in command] == []


def test_no_secret_is_written_in_the_manifests(objects, by_key):
    assert _of_kind(objects, "Secret") == []
    assert [key for key in _settings_data(by_key) if _is_secret(key)] == []
    for obj in objects:
        text = json.dumps(obj)
        assert not URL_CREDENTIALS.search(text), obj["metadata"]["name"]


def test_credentials_reach_the_containers_only_from_the_secret(objects):
    checked = 0
    for obj in objects:
        if "template" not in obj.get("spec", {}):
            continue
        for item in _container(obj).get("env", []):
            if _is_secret(item["name"]):
                assert "value" not in item, f"{obj['metadata']['name']}: {item['name']}"
                assert item["valueFrom"]["secretKeyRef"]["name"] == SECRET
                checked += 1
    assert checked >= 15


def test_the_flower_login_reaches_only_flower(objects):
    holders = {
        obj["metadata"]["name"]
        for obj in objects
        if "template" in obj.get("spec", {})
        for item in _container(obj).get("env", [])
        if item["name"] == "FLOWER_BASIC_AUTH"
    }
    assert holders == {"flower"}


def test_the_readme_lists_every_key_the_manifests_take_from_the_secret(objects):
    readme = (ROOT / "README.md").read_text()
    keys = {ref["key"] for obj in objects for ref in _secret_refs(obj)}
    assert keys and [key for key in keys if key not in readme] == []


def _secret_refs(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        if value.get("name") == SECRET and "key" in value:
            return [value]
        return [ref for child in value.values() for ref in _secret_refs(child)]
    if isinstance(value, list):
        return [ref for child in value for ref in _secret_refs(child)]
    return []


def test_the_overlays_are_the_ones_the_readme_applies():
    readme = (ROOT / "README.md").read_text()
    on_disk = {path.name for path in (K8S / "overlays").iterdir() if path.is_dir()}
    assert on_disk == set(OVERLAYS)
    for name in on_disk:
        assert f"kubectl apply -k deploy/k8s/overlays/{name}" in readme


def test_every_file_of_the_base_is_a_resource_of_it():
    listed = set(load_documents((K8S / "base" / "kustomization.yaml").read_text())[0]["resources"])
    on_disk = {path.name for path in Path(K8S / "base").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk
