"""infra/k8s, offline: every overlay builds, every object is valid Kubernetes, and the rules the
manifests promise hold in what they render (probes, non-root, limits, one beat, a PDB per web
Deployment, migration Jobs, no Secret with a value, network policies, Kong's checksum).

The overlays are built from a copy of infra/k8s with Kong's file rendered for a throwaway key
(``kong_config.py``), as an operator renders it with the deployment's JWKS.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from typing import Any

import jwt
import kubernetes_validate
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import REGISTRY, ROOT

K8S = ROOT / "infra" / "k8s"
OVERLAYS = ["dev", "prod"]
# The oldest Kubernetes release still supported upstream when this was written, and the newest
# kubernetes-validate knows: the manifests use nothing either lacks.
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]
KID = "20260101T000000-test01"
sys.path.insert(0, str(ROOT / "chassis" / "src"))
from chassis.gunicorn_conf import gunicorn_settings  # noqa: E402 - the chassis's source, added


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Overlay -> its objects, built by `kubectl kustomize` from a rendered copy."""
    work = tmp_path_factory.mktemp("k8s")
    tree = work / "k8s"
    shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns("kong.yml", "kong-checksum.yaml"))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = work / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}))
    made = subprocess.run(
        [
            ROOT / "gateway-config" / ".venv" / "bin" / "python",
            K8S / "kong_config.py",
            "--jwks",
            str(jwks),
            "--k8s",
            str(tree),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    out = {}
    for overlay in OVERLAYS:
        built = subprocess.run(
            ["kubectl", "kustomize", str(tree / "overlays" / overlay)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert built.returncode == 0, built.stderr
        out[overlay] = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    return out


def objects(docs: list[dict[str, Any]], kind: str, **labels: str) -> list[dict[str, Any]]:
    return [
        doc
        for doc in docs
        if doc["kind"] == kind
        and all(doc["metadata"].get("labels", {}).get(k) == v for k, v in labels.items())
    ]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] in ("Deployment", "StatefulSet", "Job")]


def label(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name}


L = "app.kubernetes.io/"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates(rendered, overlay):
    for version in KUBERNETES_VERSIONS:
        for doc in rendered[overlay]:
            kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_its_objects(rendered, overlay):
    docs = rendered[overlay]
    for name, spec in REGISTRY.items():
        for component in ("web", "worker", "beat"):
            deployment = named(docs, "Deployment", f"{name}-{component}")
            image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
            assert image == f"platform/{spec.dir}:latest"
        worker = named(docs, "Deployment", f"{name}-worker")["spec"]["template"]
        (container,) = worker["spec"]["containers"]
        # The Celery node name starts with the service's name (its broker user's queues).
        assert container["command"][4:6] == ["--hostname", "$(SERVICE).worker@$(POD_NAME)"]
        assert worker["metadata"]["labels"][f"{L}name"] == name
        named(docs, "Job", f"{name}-migrate")
        # The upstream name and port kong.yml's services use (http://<dir>:8000).
        service = named(docs, "Service", spec.dir)
        assert service["spec"]["selector"] == {f"{L}name": name, f"{L}component": "web"}
        assert service["spec"]["ports"][0]["port"] == 8000
        named(docs, "HorizontalPodAutoscaler", f"{name}-web")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_web_deployments_probe_and_stop_gracefully(rendered, overlay):
    graceful = gunicorn_settings("any")["graceful_timeout"]
    webs = objects(rendered[overlay], "Deployment", **{f"{L}component": "web"})
    assert len(webs) == len(REGISTRY)
    for web in webs:
        pod = web["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        pause = container["lifecycle"]["preStop"]["exec"]["command"]
        assert pause[0] == "sleep"
        assert pod["terminationGracePeriodSeconds"] > graceful + int(pause[1])
        assert web["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert "replicas" not in web["spec"]  # the autoscaler's to set
        assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_unprivileged_and_bounded(rendered, overlay):
    for workload in workloads(rendered[overlay]):
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] > 0, where
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for container in pod.get("initContainers", []) + pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            assert "add" not in security["capabilities"], where
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) == {"cpu", "memory"}, where
            # The platform's own pods (services, Kong) write only to their scratch volumes.
            if workload["metadata"]["labels"].get(f"{L}part-of") == "platform":
                assert security["readOnlyRootFilesystem"] is True, where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_beat_per_service_never_scaled(rendered, overlay):
    docs = rendered[overlay]
    beats = objects(docs, "Deployment", **{f"{L}component": "beat"})
    assert sorted(b["metadata"]["labels"][f"{L}name"] for b in beats) == sorted(REGISTRY)
    scaled = {h["spec"]["scaleTargetRef"]["name"] for h in objects(docs, "HorizontalPodAutoscaler")}
    for beat in beats:
        assert beat["spec"]["replicas"] == 1
        assert beat["spec"]["strategy"] == {"type": "Recreate"}
        assert beat["metadata"]["name"] not in scaled


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_disruption_budget_covers_every_web_deployment(rendered, overlay):
    docs = rendered[overlay]
    budgets = objects(docs, "PodDisruptionBudget")
    for web in [
        *objects(docs, "Deployment", **{f"{L}component": "web"}),
        named(docs, "Deployment", "kong"),
    ]:
        pod_labels = web["spec"]["template"]["metadata"]["labels"]
        covering = [
            b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        ]
        assert len(covering) == 1, web["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_migration_jobs_apply_apart_from_the_release(rendered, overlay):
    """`kubectl apply -l 'app.kubernetes.io/component in (config,migrate)'` selects the Jobs
    and everything they read (ConfigMaps, Secrets), so migrations run before the new version's
    pods are created (infra/README.md)."""
    docs = rendered[overlay]
    first = {
        (d["kind"], d["metadata"]["name"])
        for d in docs
        if d["metadata"].get("labels", {}).get(f"{L}component") in ("config", "migrate")
    }
    for job in objects(docs, "Job"):
        assert job["metadata"]["labels"][f"{L}component"] == "migrate"
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["python", "manage.py", "migrate", "--no-input"]
        for source in container["envFrom"]:
            kind, ref = (
                ("ConfigMap", "configMapRef")
                if "configMapRef" in source
                else (
                    "Secret",
                    "secretRef",
                )
            )
            assert (kind, source[ref]["name"]) in first, (job["metadata"]["name"], source)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_carries_a_value(rendered, overlay):
    secrets = objects(rendered[overlay], "Secret")
    assert {"users-secrets", "users-jwt-keys", "catalog-secrets", "orders-secrets"} <= {
        s["metadata"]["name"] for s in secrets
    }
    for secret in secrets:
        assert not secret.get("data"), secret["metadata"]
        assert not secret.get("stringData"), secret["metadata"]
        assert secret["metadata"]["annotations"]["platform.example.com/required-keys"]


def peers(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [peer for rule in policy["spec"].get("ingress", []) for peer in rule.get("from", [])]


def pods_of(components: list[str]) -> dict[str, Any]:
    expression = {"key": f"{L}component", "operator": "In", "values": components}
    return {"podSelector": {"matchExpressions": [expression]}}


MONITORING = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_let_in_only_kong_and_the_service(rendered, overlay):
    docs = rendered[overlay]
    deny = named(docs, "NetworkPolicy", "default-deny-ingress")
    assert deny["spec"]["podSelector"] == {"matchLabels": {}}
    assert deny["spec"]["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny["spec"]
    for name in REGISTRY:
        web = named(docs, "NetworkPolicy", f"{name}-web")
        assert web["spec"]["podSelector"]["matchLabels"] == {
            f"{L}name": name,
            f"{L}component": "web",
        }
        callers = [{"podSelector": {"matchLabels": label(c)}} for c in ("kong", name)]
        if name == "users":  # it serves the JWKS and the admin sign-in to the other services
            callers.append(pods_of(["web", "worker", "beat"]))
        assert peers(web) == [*callers, MONITORING]
        database = named(docs, "NetworkPolicy", f"{name}-postgres")
        assert database["spec"]["podSelector"]["matchLabels"] == label(f"{name}-postgres")
        assert peers(database) == [{"podSelector": {"matchLabels": label(name)}}]
    services = pods_of(["web", "worker", "beat", "migrate"])
    assert peers(named(docs, "NetworkPolicy", "rabbitmq")) == [services]
    assert peers(named(docs, "NetworkPolicy", "redis")) == [
        pods_of(["web", "worker", "beat", "migrate", "gateway"])
    ]
    # In dev the databases exist, and the policy selects exactly their pods.
    if overlay == "dev":
        for name in REGISTRY:
            postgres = named(docs, "StatefulSet", f"{name}-postgres")
            assert postgres["spec"]["template"]["metadata"]["labels"][f"{L}name"] == (
                f"{name}-postgres"
            )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kong_rolls_when_its_configuration_changes(rendered, overlay):
    docs = rendered[overlay]
    kong = named(docs, "Deployment", "kong")
    volume = next(v for v in kong["spec"]["template"]["spec"]["volumes"] if v["name"] == "config")
    config = named(docs, "ConfigMap", volume["configMap"]["name"])
    text = config["data"]["kong.yml"]
    annotations = kong["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/kong-config"] == hashlib.sha256(text.encode()).hexdigest()
    declarative = yaml.safe_load(text)
    (credential,) = declarative["consumers"][0]["jwt_secrets"]
    assert credential["key"] == KID
    assert "PRIVATE" not in credential["rsa_public_key"]
    # The upstreams are the Services rendered alongside.
    for service in declarative["services"]:
        assert service["url"] == f"http://{service['name']}:8000"
        named(docs, "Service", service["name"])


def rate_limit_configs(declarative: dict[str, Any]) -> list[dict[str, Any]]:
    entities = [declarative, *declarative["services"]]
    entities += [r for s in declarative["services"] for r in s["routes"]]
    return [
        p["config"]
        for e in entities
        for p in e.get("plugins") or []
        if p["name"] == "rate-limiting"
    ]


def test_prod_limits_hold_across_kong_replicas_and_count_the_real_client(rendered):
    docs = rendered["prod"]
    kong = named(docs, "Deployment", "kong")
    config = named(
        docs, "ConfigMap", kong["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
    )
    limits = rate_limit_configs(yaml.safe_load(config["data"]["kong.yml"]))
    source = yaml.safe_load((ROOT / "gateway-config" / "kong.yml").read_text())
    assert len(limits) == len(rate_limit_configs(source)) > 0
    for limit in limits:
        assert limit["policy"] == "redis"
        assert limit["limit_by"] == "ip"
        assert limit["redis"]["host"] == "redis"
        assert limit["redis"]["password"].startswith("{vault://env/")
    env = {
        e["name"]: e.get("value") for e in kong["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["KONG_REAL_IP_HEADER"] == "X-Forwarded-For"
    assert env["KONG_TRUSTED_IPS"]
    assert "0.0.0.0/0" not in env["KONG_TRUSTED_IPS"]
    assert named(docs, "HorizontalPodAutoscaler", "kong")["spec"]["minReplicas"] >= 2
    for backing in ("rabbitmq", "redis", *(f"{n}-postgres" for n in REGISTRY)):
        assert named(docs, "Service", backing)["spec"]["type"] == "ExternalName"
    assert not objects(docs, "StatefulSet")


def test_dev_runs_one_kong_counting_locally_and_its_own_backing_services(rendered):
    docs = rendered["dev"]
    kong = named(docs, "Deployment", "kong")
    assert named(docs, "HorizontalPodAutoscaler", "kong")["spec"]["maxReplicas"] == 1
    config = named(
        docs, "ConfigMap", kong["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
    )
    assert {
        c["policy"] for c in rate_limit_configs(yaml.safe_load(config["data"]["kong.yml"]))
    } == {"local"}
    for backing in ("rabbitmq", "redis", *(f"{n}-postgres" for n in REGISTRY)):
        statefulset = named(docs, "StatefulSet", backing)
        assert statefulset["spec"]["replicas"] == 1
        assert (
            named(docs, "Service", backing)["spec"]["selector"]
            == (statefulset["spec"]["selector"]["matchLabels"])
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_prometheus_scrapes_each_web_pod_on_its_own_port(rendered, overlay):
    docs = rendered[overlay]
    for deployment in [
        *objects(docs, "Deployment", **{f"{L}component": "web"}),
        named(docs, "Deployment", "kong"),
    ]:
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        ports = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        assert int(annotations["prometheus.io/port"]) in {p["containerPort"] for p in ports}


def test_kong_config_refuses_a_jwks_with_private_material(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))  # private: d, p, q
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig"}]}))
    result = subprocess.run(
        [
            ROOT / "gateway-config" / ".venv" / "bin" / "python",
            K8S / "kong_config.py",
            "--jwks",
            str(jwks),
            "--k8s",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "private material" in result.stderr
    assert not list(tmp_path.rglob("kong.yml"))


def test_a_service_added_by_the_scaffold_is_written_as_the_others(tmp_path):
    """`make new-service` writes a service's objects with infra/k8s/add_service.py: with
    orders-service removed from a copy and added again, the copy is the tree as it is."""
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns("kong.yml", "kong-checksum.yaml"))
    for path in ("base/orders", "overlays/dev/backing/orders-postgres"):
        shutil.rmtree(tree / path)
    (tree / "components/network-policies/orders.yaml").unlink()
    for path, line in (
        ("base/kustomization.yaml", "  - orders\n"),
        ("components/network-policies/kustomization.yaml", "  - orders.yaml\n"),
        ("overlays/dev/backing/kustomization.yaml", "  - orders-postgres\n"),
        (
            "overlays/prod/kustomization.yaml",
            "  - {name: platform/orders-service, newTag: latest}\n",
        ),
    ):
        text = (tree / path).read_text()
        assert line in text
        (tree / path).write_text(text.replace(line, ""))
    external = tree / "overlays/prod/external.yaml"
    head, _ = external.read_text().split(
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: orders-postgres"
    )
    external.write_text(head)
    sys.path.insert(0, str(tree))
    try:
        import add_service

        add_service.K8S = tree
        add_service.add_service(name="orders", directory="orders-service")
    finally:
        sys.path.remove(str(tree))
        sys.modules.pop("add_service", None)
    for path in sorted(p for p in K8S.rglob("*") if p.is_file() and p.suffix in (".yaml", ".env")):
        if path.name in ("kong-checksum.yaml",):
            continue
        copy = tree / path.relative_to(K8S)
        assert copy.read_text() == path.read_text(), path.relative_to(K8S)
