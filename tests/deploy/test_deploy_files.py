"""The deployment files agree with the package and with each other (no Docker needed)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
YAML_FILES = sorted(DEPLOY.rglob("*.yaml"))
# the flags the CLI's `search` command accepts
SEARCH_FLAGS = {"--executor", "--workers", "--storage", "--out", "--trials", "--address", "--seed", "--resume"}
VALUELESS_FLAGS = {"--resume"}


def _pyproject() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _version() -> str:
    return _pyproject()["project"]["version"]


def _ray_pin() -> str:
    (spec,) = [s for s in _pyproject()["project"]["optional-dependencies"]["ray"] if s.startswith("ray")]
    match = re.fullmatch(r"ray\[default\]==([\w.]+)", spec)
    assert match, f"the ray extra must pin one version, got {spec!r}"
    return match.group(1)


def _load(name: str) -> list[Any]:
    return list(yaml.safe_load_all((DEPLOY / name).read_text()))


def _one(name: str) -> dict[str, Any]:
    (doc,) = _load(name)
    return doc


def _walk(node: Any, key: str) -> Iterator[Any]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _walk(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, key)


def _dockerfile() -> list[str]:
    """Dockerfile instructions, one per entry, continuations joined, comments dropped."""
    lines = [ln for ln in (DEPLOY / "Dockerfile").read_text().splitlines() if not ln.lstrip().startswith("#")]
    return [ins.strip() for ins in re.split(r"(?<!\\)\n", "\n".join(lines).replace("\\\n", " ")) if ins.strip()]


def _docker_args() -> dict[str, str]:
    args = {}
    for ins in _dockerfile():
        if ins.startswith("ARG ") and "=" in ins:
            name, _, value = ins[4:].partition("=")
            args[name.strip()] = value.strip()
    return args


# -- every file ------------------------------------------------------------------------


def test_expected_files_exist() -> None:
    names = {p.relative_to(DEPLOY).as_posix() for p in YAML_FILES}
    assert {"docker-compose.yaml", "ray/cluster.yaml", "kuberay/raycluster.yaml", "kuberay/rayjob.yaml",
            "kuberay/postgres.yaml"} <= names
    assert (DEPLOY / "Dockerfile").is_file() and (DEPLOY / "README.md").is_file()


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_yaml_parses(path: Path) -> None:
    docs = list(yaml.safe_load_all(path.read_text()))
    assert docs and all(isinstance(d, dict) for d in docs)


def test_one_image_name_everywhere() -> None:
    expected = f"autoprune:{_version()}"
    seen = {}
    for path in YAML_FILES:
        images = [i for doc in yaml.safe_load_all(path.read_text()) for i in _walk(doc, "image")]
        ours = [i for i in images if i.rsplit("/", 1)[-1].startswith("autoprune")]
        assert all(i.rsplit("/", 1)[-1] == expected for i in ours), (path, ours)  # a registry prefix is fine
        assert all(i.startswith("postgres:") for i in images if i not in ours), (path, images)
        seen[path.relative_to(DEPLOY).as_posix()] = len(ours)
    for name in ("docker-compose.yaml", "ray/cluster.yaml", "kuberay/raycluster.yaml", "kuberay/rayjob.yaml"):
        assert seen[name] >= 1, name
    text = (DEPLOY / "Dockerfile").read_text() + (DEPLOY / "README.md").read_text()
    tags = set(re.findall(r"-t (\S+)", text))
    assert f"autoprune:{_version()}" in tags
    assert all(t.startswith(expected) for t in tags), tags


def test_ray_version_is_the_same_everywhere() -> None:
    pin = _ray_pin()
    assert _docker_args()["RAY_VERSION"] == pin
    assert any('"ray[default]==${RAY_VERSION}"' in ins for ins in _dockerfile() if ins.startswith("RUN "))
    assert _one("kuberay/raycluster.yaml")["spec"]["rayVersion"] == pin
    assert _one("kuberay/rayjob.yaml")["spec"]["rayClusterSpec"]["rayVersion"] == pin


# -- Dockerfile ------------------------------------------------------------------------


def test_dockerfile() -> None:
    instructions = _dockerfile()
    args = _docker_args()
    assert args["BASE_IMAGE"] == "python:3.11-slim"
    assert "FROM ${BASE_IMAGE}" in instructions
    assert args["TORCH_INDEX"] == "https://download.pytorch.org/whl/cpu"
    assert args["TORCH_VERSION"] == "2.13.0"
    runs = " ".join(i for i in instructions if i.startswith("RUN "))
    assert 'pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"' in runs
    assert "psycopg2-binary" in runs
    assert 'pip install "/app[ray,neptune]"' in runs
    assert "COPY . /app" in instructions
    (entrypoint,) = [i for i in instructions if i.startswith("ENTRYPOINT ")]
    assert json.loads(entrypoint[len("ENTRYPOINT "):]) == ["autoprune"]
    # the torch layer comes before the code, so a code change does not reinstall torch
    order = [i for i in instructions if i.startswith(("COPY", "RUN pip install \"torch"))]
    assert order[0].startswith("RUN pip install \"torch") and order[-1] == "COPY . /app"


# -- the search command ----------------------------------------------------------------


def _check_search_command(tokens: list[str]) -> dict[str, str]:
    assert tokens[:2] == ["autoprune", "search"], tokens
    flags: dict[str, str] = {}
    rest = tokens[2:]
    positional = []
    i = 0
    while i < len(rest):
        tok = rest[i]
        if tok.startswith("--"):
            assert tok in SEARCH_FLAGS, f"{tok} is not a flag of `autoprune search`"
            if tok in VALUELESS_FLAGS:
                flags[tok] = ""
                i += 1
            else:
                assert i + 1 < len(rest) and not rest[i + 1].startswith("--"), f"{tok} needs a value"
                flags[tok] = rest[i + 1]
                i += 2
        else:
            assert not flags, f"the search space {tok!r} must come before the flags"
            positional.append(tok)
            i += 1
    assert len(positional) <= 1, positional
    for space in positional:  # the image has the repository at /app
        assert space.startswith("/app/") and (ROOT / space[len("/app/"):]).is_file(), space
    assert flags["--executor"] == "ray"
    assert int(flags["--workers"]) >= 1 and int(flags["--trials"]) >= 1
    storage = flags["--storage"]
    assert storage.startswith("postgresql+psycopg2://")
    userinfo = storage.split("://", 1)[1].split("@", 1)[0]
    assert ":" not in userinfo, "the password must come from PGPASSWORD, not the URL"
    assert flags["--out"].startswith("/runs/")
    # and the real CLI parses it
    from autoprune.cli import build_parser

    parsed = build_parser().parse_args(tokens[1:])
    assert (parsed.command, parsed.executor, parsed.workers) == ("search", "ray", int(flags["--workers"]))
    return flags


def test_rayjob_entrypoint_is_an_autoprune_search() -> None:
    _check_search_command(shlex.split(_one("kuberay/rayjob.yaml")["spec"]["entrypoint"]))


def test_compose_runs_a_search_against_postgres() -> None:
    compose = _one("docker-compose.yaml")
    service = compose["services"]["autoprune"]
    _check_search_command(["autoprune", *service["command"]])
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "PGPASSWORD" in service["environment"]
    assert service["shm_size"]
    assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}


# -- KubeRay ---------------------------------------------------------------------------


def _cluster_specs() -> dict[str, dict[str, Any]]:
    return {
        "raycluster": _one("kuberay/raycluster.yaml")["spec"],
        "rayjob": _one("kuberay/rayjob.yaml")["spec"]["rayClusterSpec"],
    }


def _quantity(text: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "": 1}
    number, unit = re.fullmatch(r"([\d.]+)([KMGT]i)?", str(text)).groups()
    return float(number) * units[unit or ""]


def _groups(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("head", spec["headGroupSpec"])] + [(g["groupName"], g) for g in spec["workerGroupSpecs"]]


@pytest.mark.parametrize("name", ["raycluster", "rayjob"])
def test_every_ray_pod_has_a_memory_backed_dev_shm(name: str) -> None:
    for group_name, group in _groups(_cluster_specs()[name]):
        pod = group["template"]["spec"]
        (container,) = pod["containers"]
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/dev/shm"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        assert volume["emptyDir"]["medium"] == "Memory", group_name
        shm = _quantity(volume["emptyDir"]["sizeLimit"])
        assert float(group["rayStartParams"]["object-store-memory"]) < shm, group_name
        assert shm < _quantity(container["resources"]["limits"]["memory"]), group_name


@pytest.mark.parametrize("name", ["raycluster", "rayjob"])
def test_token_auth_and_a_head_without_trials(name: str) -> None:
    spec = _cluster_specs()[name]
    assert spec["authOptions"]["mode"] == "token"
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"  # the controller's node runs no trials
    assert spec["workerGroupSpecs"], name


@pytest.mark.parametrize("name", ["raycluster", "rayjob"])
def test_head_gets_secrets_and_the_runs_volume(name: str) -> None:
    pod = _cluster_specs()[name]["headGroupSpec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "autoprune-postgres", "key": "password"}
    assert env["NEPTUNE_API_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True
    (runs,) = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert runs["persistentVolumeClaim"]["claimName"] == _one("kuberay/runs.yaml")["metadata"]["name"]
    assert {"name": runs["name"], "mountPath": "/runs"} in pod["containers"][0]["volumeMounts"]


def test_postgres_matches_the_storage_url() -> None:
    service, statefulset = _load("kuberay/postgres.yaml")
    assert (service["kind"], service["metadata"]["name"], service["spec"]["ports"][0]["port"]) == ("Service", "postgres", 5432)
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["POSTGRES_USER"]["value"] == env["POSTGRES_DB"]["value"] == "autoprune"
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "autoprune-postgres", "key": "password"}
    assert statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    flags = _check_search_command(shlex.split(_one("kuberay/rayjob.yaml")["spec"]["entrypoint"]))
    assert flags["--storage"] == "postgresql+psycopg2://autoprune@postgres:5432/autoprune"


# -- Ray cluster launcher --------------------------------------------------------------


def test_cluster_launcher_config() -> None:
    config = _one("ray/cluster.yaml")
    assert config["provider"]["type"] == "aws"
    options = config["docker"]["run_options"]
    assert "--env RAY_AUTH_MODE=token" in options
    assert "--entrypoint=''" in options  # the image's ENTRYPOINT would swallow the launcher's `bash`
    assert any(o.startswith("--shm-size=") for o in options)
    assert any(remote.endswith(".ray/auth_token") for remote in config["file_mounts"])
    head = config["available_node_types"][config["head_node_type"]]
    assert head["resources"] == {"CPU": 0}
    workers = [t for n, t in config["available_node_types"].items() if n != config["head_node_type"]]
    assert workers
    assert any("ray start --head" in c for c in config["head_start_ray_commands"])


@pytest.mark.e2e  # importing ray takes 2-3 s here
def test_cluster_launcher_config_passes_rays_own_validation() -> None:
    pytest.importorskip("ray.autoscaler")
    pytest.importorskip("jsonschema")
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(_one("ray/cluster.yaml")))


# -- README ----------------------------------------------------------------------------


def test_readme_names_real_files() -> None:
    text = (DEPLOY / "README.md").read_text()
    mentioned = set(re.findall(r"deploy/[\w./-]+\.(?:yaml|md)|deploy/Dockerfile", text))
    assert mentioned
    for path in mentioned:
        assert (ROOT / path).is_file(), path
