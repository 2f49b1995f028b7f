"""A new service's Kubernetes objects (`make new-service` calls :func:`add_service`).

Writes ``base/<name>/`` (the generic service objects of ``base/service`` with the service's
prefix, labels, image and ConfigMap), its network policies, its dev database and its prod
external endpoint, and lists each where kustomize reads it. users-service, catalog-service and
orders-service were written the same way (users-service also holds the signing keys).
"""

from __future__ import annotations

from pathlib import Path

K8S = Path(__file__).resolve().parent

KUSTOMIZATION = """\
# {dir}: verifies tokens from users-service's JWKS (in-cluster, users-service:8000).
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namePrefix: {name}-
labels:
  - pairs: {{app.kubernetes.io/name: {name}}}
    includeSelectors: true
    includeTemplates: true
resources:
  - ../service
images:
  - name: service-image
    newName: platform/{dir}
    newTag: latest
configMapGenerator:
  - name: config
    envs: [config.env]
    options:
      labels: {{app.kubernetes.io/component: config}}
"""

CONFIG = """\
DEBUG=false
ALLOWED_HOSTS=shop.example.com,{dir}
CSRF_TRUSTED_ORIGINS=https://shop.example.com
DB_CONN_MAX_AGE=60
REDIS_URL=redis://redis:6379/0
CACHE_KEY_PREFIX=
LOG_FORMAT=json
LOG_LEVEL=INFO
SECURE_SSL_REDIRECT=false
SECURE_HSTS_SECONDS=31536000
SECURE_COOKIES=true
TRUSTED_PROXIES=10.0.0.0/8
GUNICORN_WORKERS=2
JWT_ISSUER=users
JWKS_URL=http://users-service:8000/.well-known/jwks.json
USERS_TOKEN_URL=http://users-service:8000/api/v1/auth/token
"""

POLICIES = """\
# {dir}: its web pods and its database (one file per service: `make new-service` adds one).
# {dir}'s web pods: from Kong, from {name}'s own pods, and from Prometheus (/metrics).
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {name}-web
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/name: {name}
      app.kubernetes.io/component: web
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector:
            matchLabels: {{app.kubernetes.io/name: kong}}
        - podSelector:
            matchLabels: {{app.kubernetes.io/name: {name}}}
        - namespaceSelector:
            matchLabels: {{kubernetes.io/metadata.name: monitoring}}
      ports: [{{port: 8000}}]
---
# {dir}'s database (dev's StatefulSet): from {name}'s pods only.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {name}-postgres
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/name: {name}-postgres
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector:
            matchLabels: {{app.kubernetes.io/name: {name}}}
      ports: [{{port: 5432}}]
"""

DEV_DATABASE = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namePrefix: {name}-
labels:
  - pairs: {{app.kubernetes.io/name: {name}-postgres, app.kubernetes.io/component: database}}
    includeSelectors: true
    includeTemplates: true
resources:
  - ../postgres
"""

PROD_DATABASE = """\
---
apiVersion: v1
kind: Service
metadata:
  name: {name}-postgres
spec:
  type: ExternalName
  externalName: {name}-db.example.internal
"""


def add_service(*, name: str, directory: str) -> None:
    """Write and list the Kubernetes objects of service ``name`` (its directory ``directory``)."""
    names = {"name": name, "dir": directory}
    write(K8S / "base" / name / "kustomization.yaml", KUSTOMIZATION.format(**names))
    write(K8S / "base" / name / "config.env", CONFIG.format(**names))
    list_in(K8S / "base" / "kustomization.yaml", name)
    policies = K8S / "components" / "network-policies"
    write(policies / f"{name}.yaml", POLICIES.format(**names))
    list_in(policies / "kustomization.yaml", f"{name}.yaml")
    backing = K8S / "overlays" / "dev" / "backing"
    write(backing / f"{name}-postgres" / "kustomization.yaml", DEV_DATABASE.format(**names))
    list_in(backing / "kustomization.yaml", f"{name}-postgres")
    prod = K8S / "overlays" / "prod"
    with (prod / "external.yaml").open("a") as external:
        external.write(PROD_DATABASE.format(**names))
    with (prod / "kustomization.yaml").open("a") as kustomization:
        kustomization.write(f"  - {{name: platform/{directory}, newTag: latest}}\n")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def list_in(kustomization: Path, resource: str) -> None:
    """Add ``resource`` at the end of the ``resources:`` list of ``kustomization``."""
    lines = kustomization.read_text().splitlines()
    start = lines.index("resources:")
    end = start + 1
    while end < len(lines) and lines[end].startswith("  - "):
        end += 1
    lines.insert(end, f"  - {resource}")
    kustomization.write_text("\n".join(lines) + "\n")
