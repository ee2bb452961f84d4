"""The files in cluster/: launcher configs against Ray's own schema, KubeRay manifests for the fields
KubeRay requires, token authentication everywhere, and the nightly schedules' commands.

No cluster is started and Ray is not imported: the launcher configs are checked with ``jsonschema``
against ``ray/autoscaler/ray-schema.json`` (what ``ray up`` validates with; Ray's own config
preparation, which imports Ray, is in tests/integration/test_cluster_configs.py); the Kubernetes
manifests are checked field by field.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from tests.helpers import LAUNCHER, ROOT

CLUSTER = ROOT / "cluster"
KUBERAY = CLUSTER / "kuberay"
IMAGE_ROOT = "/home/ray/sweep"  # where cluster/Dockerfile puts the repository


def _schema() -> dict[str, Any]:
    """The schema the installed Ray validates launcher configs with (found without importing Ray)."""
    import importlib.util

    spec = importlib.util.find_spec("ray")
    assert spec is not None and spec.submodule_search_locations, "ray is not installed"
    return json.loads((Path(spec.submodule_search_locations[0]) / "autoscaler" / "ray-schema.json").read_text())


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


# ------------------------------------------------------------------------------------------
# Ray cluster launcher
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LAUNCHER))
def test_launcher_config_passes_rays_schema(name):
    import jsonschema

    config = _load(LAUNCHER[name])
    jsonschema.validate(config, _schema())
    # what `ray up` does next (Ray's own config preparation) imports Ray:
    # tests/integration/test_cluster_configs.py


def test_the_schema_check_catches_mistakes():
    import jsonschema

    schema = _schema()
    config = _load(LAUNCHER["aws"])
    for broken in (
        {**config, "head_start_ray_command": config["head_start_ray_commands"]},  # misspelled key
        {**config, "provider": {"region": "us-west-2"}},  # no provider type
        {**config, "available_node_types": {**config["available_node_types"], "x": {"node_config": {}}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)


def test_aws_config_has_gpu_worker_types():
    config = _load(LAUNCHER["aws"])
    assert config["provider"]["type"] == "aws"
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("CPU") == 0  # trials on workers only
    gpu = {n: t for n, t in types.items() if re.match(r"(g|p)\d", t["node_config"]["InstanceType"])}
    assert len(gpu) >= 1 and all(t.get("max_workers", 0) >= 1 for t in gpu.values())
    assert all(t.get("min_workers", 0) == 0 for n, t in types.items() if n != config["head_node_type"])
    for t in gpu.values():  # the GPU build of TensorFlow on GPU nodes
        assert any("[gpu]" in c for c in t["worker_setup_commands"])


def test_every_aws_node_installs_the_project_once():
    """Ray runs setup_commands on every node, then head_setup_commands or the node type's
    worker_setup_commands (else the global ones): the project is installed once per node, with the
    [gpu] extra on the GPU types (a GPU node installed it twice, first without the extra)."""
    config = _load(LAUNCHER["aws"])

    def installs(commands: list[str]) -> list[str]:
        return [c for c in commands if "pip install" in c and "sweep" in c.split("pip install")[1]]

    for name, node in config["available_node_types"].items():
        own = (config["head_setup_commands"] if name == config["head_node_type"]
               else node.get("worker_setup_commands", config["worker_setup_commands"]))
        done = installs(config["setup_commands"] + own)
        assert len(done) == 1, (name, done)
        assert ("[gpu]" in done[0]) == name.startswith("gpu"), (name, done)


def test_onprem_config_uses_the_local_provider():
    config = _load(LAUNCHER["onprem"])
    p = config["provider"]
    assert p["type"] == "local" and isinstance(p["head_ip"], str) and len(p["worker_ips"]) >= 1
    assert config["auth"]["ssh_user"]


@pytest.mark.parametrize("name", sorted(LAUNCHER))
def test_launcher_nodes_start_with_token_auth_and_get_the_token(name):
    config = _load(LAUNCHER[name])
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        starts = [c for c in config[key] if "ray start" in c]
        assert len(starts) == 1 and "RAY_AUTH_MODE=token" in starts[0], (key, starts)
        assert "sweep-venv/bin" in starts[0]  # a job's `sweep ...` entrypoint finds the command
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    assert "--head" in " ".join(config["head_start_ray_commands"])


# ------------------------------------------------------------------------------------------
# KubeRay
# ------------------------------------------------------------------------------------------


def _containers(pod_template: dict[str, Any]) -> list[dict[str, Any]]:
    return pod_template["spec"]["containers"]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("env", [])}


def _has_token_env(container: dict[str, Any], secret: str) -> bool:
    env = _env(container)
    mode = env.get("RAY_AUTH_MODE", {}).get("value")
    ref = env.get("RAY_AUTH_TOKEN", {}).get("valueFrom", {}).get("secretKeyRef", {})
    return mode == "token" and ref.get("name") == secret and ref.get("key") == "auth_token"


def _check_cluster_spec(spec: dict[str, Any], secret: str, pvc: str) -> None:
    """What KubeRay requires of a RayClusterSpec, and token auth on every Ray container."""
    head = spec["headGroupSpec"]
    assert isinstance(head["rayStartParams"], dict)
    groups = [("head", head)] + [(g["groupName"], g) for g in spec["workerGroupSpecs"]]
    token_by_options = spec.get("authOptions", {}).get("mode") == "token"
    for name, group in groups:
        containers = _containers(group["template"])
        assert containers, name
        for c in containers:
            assert c.get("name") and c.get("image"), (name, c)
            assert token_by_options or _has_token_env(c, secret), (name, c.get("name"))
        claims = [v["persistentVolumeClaim"]["claimName"] for v in group["template"]["spec"].get("volumes", [])
                  if "persistentVolumeClaim" in v]
        assert claims == [pvc], name
        assert any(m["mountPath"] == "/shared" for m in containers[0].get("volumeMounts", [])), name
    for g in spec["workerGroupSpecs"]:
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", g["groupName"])
        assert isinstance(g["rayStartParams"], dict)
        assert 0 <= g["minReplicas"] <= g["replicas"] <= g["maxReplicas"], g["groupName"]
    gpu = [g for g in spec["workerGroupSpecs"]
           if any("nvidia.com/gpu" in c.get("resources", {}).get("limits", {}) for c in _containers(g["template"]))]
    assert gpu, "a GPU worker group (nvidia.com/gpu limit)"
    for g in gpu:
        c = _containers(g["template"])[0]
        assert c["resources"]["limits"]["nvidia.com/gpu"] >= 1
        assert any(t.get("key") == "nvidia.com/gpu" for t in g["template"]["spec"].get("tolerations", []))
    if spec.get("enableInTreeAutoscaling") and not token_by_options:  # the autoscaler talks to the GCS
        env = {e["name"]: e for e in spec["autoscalerOptions"]["env"]}
        assert _has_token_env({"env": list(env.values())}, secret)
    assert head["rayStartParams"].get("num-cpus") == "0"  # trials on workers


def _names() -> tuple[str, str]:
    (pvc,) = _docs(KUBERAY / "shared-storage.yaml")
    assert pvc["kind"] == "PersistentVolumeClaim" and "ReadWriteMany" in pvc["spec"]["accessModes"]
    text = (KUBERAY / "raycluster.yaml").read_text()
    secret = re.search(r"kubectl create secret generic (\S+) --from-literal=auth_token=", text)
    assert secret, "raycluster.yaml says how to create the token's Secret"
    return secret.group(1), pvc["metadata"]["name"]


def test_raycluster_manifest():
    secret, pvc = _names()
    (rc,) = _docs(KUBERAY / "raycluster.yaml")
    assert rc["apiVersion"] == "ray.io/v1" and rc["kind"] == "RayCluster" and rc["metadata"]["name"]
    _check_cluster_spec(rc["spec"], secret, pvc)
    head = _containers(rc["spec"]["headGroupSpec"]["template"])[0]
    assert {p["containerPort"] for p in head["ports"]} >= {6379, 8265}


def _entrypoint_args(entrypoint: str) -> list[str]:
    args = shlex.split(entrypoint)
    assert args[0] == "sweep", entrypoint
    return args[1:]


def test_rayjob_manifest_runs_the_nightly_command():
    from orchestrator.cli import main

    secret, pvc = _names()
    (job,) = _docs(KUBERAY / "rayjob.yaml")
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob" and job["metadata"]["name"]
    spec = job["spec"]
    assert spec["entrypoint"] and ("rayClusterSpec" in spec or "clusterSelector" in spec)
    if "rayClusterSpec" in spec:
        _check_cluster_spec(spec["rayClusterSpec"], secret, pvc)
        assert spec["shutdownAfterJobFinishes"] is True
    submitter = _containers(spec["submitterPodTemplate"])
    assert all(c.get("image") and _has_token_env(c, secret) for c in submitter)
    # the entrypoint is a real `sweep nightly` command line with a shipped spec
    args = _entrypoint_args(spec["entrypoint"])
    assert args[0] == "nightly" and "--history" in args
    spec_file = ROOT / Path(args[1]).relative_to(IMAGE_ROOT)
    assert main(["validate", str(spec_file)]) == 0


def test_cronjob_creates_the_rayjob_with_just_enough_rights():
    docs = {d["kind"]: d for d in _docs(KUBERAY / "cronjob-nightly.yaml")}
    assert set(docs) == {"ServiceAccount", "Role", "RoleBinding", "CronJob"}
    cron = docs["CronJob"]
    assert cron["apiVersion"] == "batch/v1" and len(cron["spec"]["schedule"].split()) == 5
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == docs["ServiceAccount"]["metadata"]["name"]
    assert pod["restartPolicy"] == "Never"
    binding = docs["RoleBinding"]
    assert binding["roleRef"]["name"] == docs["Role"]["metadata"]["name"]
    assert binding["subjects"][0]["name"] == docs["ServiceAccount"]["metadata"]["name"]
    rayjobs = [r for r in docs["Role"]["rules"] if "rayjobs" in r["resources"]]
    assert rayjobs and rayjobs[0]["apiGroups"] == ["ray.io"] and {"create", "delete", "get"} <= set(rayjobs[0]["verbs"])
    (container,) = pod["containers"]
    script = "\n".join(container["args"])
    (job,) = _docs(KUBERAY / "rayjob.yaml")
    name = job["metadata"]["name"]
    assert "kubectl create -f /etc/sweep/rayjob.yaml" in script and f"rayjob {name}" in script
    # it stops waiting on every end state, a RayJob KubeRay refused too (not at the 8-hour deadline)
    ends = re.search(r'case "\$state" in ([\w|]+)\) break', script)
    assert ends and set(ends.group(1).split("|")) == {"Complete", "Failed", "ValidationFailed"}, script
    assert re.search(r'\[ "\$status" = SUCCEEDED \]', script)  # a failed night fails the Job
    mount = container["volumeMounts"][0]
    cm = next(v for v in pod["volumes"] if v["name"] == mount["name"])["configMap"]["name"]
    header = (KUBERAY / "cronjob-nightly.yaml").read_text()
    assert f"kubectl create configmap {cm} --from-file=rayjob.yaml=cluster/kuberay/rayjob.yaml" in header
    assert mount["mountPath"] == "/etc/sweep"


# ------------------------------------------------------------------------------------------
# plain cron, Dockerfile, README
# ------------------------------------------------------------------------------------------


def _cron_lines() -> Iterator[str]:
    for line in (CLUSTER / "cron" / "nightly.cron").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and not re.match(r"^[A-Z_]+=", line):
            yield line


def test_cron_line_submits_the_nightly_sweep():
    from orchestrator.cli import main

    (line,) = list(_cron_lines())
    fields = line.split(None, 5)
    assert all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5]), fields
    command = fields[5]
    assert "%" not in command.replace("\\%", "")  # cron turns a bare % into a newline
    assert "ray job submit" in command and "--working-dir ." in command
    after = command.split(" -- ", 1)[1].split(">>")[0]
    args = shlex.split(after.replace("\\%", "%"))
    assert args[:2] == ["sweep", "nightly"] and "--history" in args and "--date" in args
    assert main(["validate", str(ROOT / args[2])]) == 0
    env = dict(line.split("=", 1) for line in (CLUSTER / "cron" / "nightly.cron").read_text().splitlines()
               if re.match(r"^[A-Z_]+=", line))
    assert env["RAY_AUTH_MODE"] == "token" and env["RAY_ADDRESS"].startswith("http")


def test_dockerfile_copies_what_exists():
    text = (CLUSTER / "Dockerfile").read_text()
    for src in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", text, flags=re.M):
        for part in src.split():
            assert (ROOT / part).exists(), part
    assert f"WORKDIR {IMAGE_ROOT}" in text


def test_readme_walks_through_every_path():
    text = (CLUSTER / "README.md").read_text()
    for f in sorted(CLUSTER.rglob("*")):
        if f.is_file() and f.name != "README.md":
            assert str(f.relative_to(CLUSTER)) in text, f"cluster/README.md does not mention {f.name}"
    for topic in ("RAY_AUTH_MODE=token", "ray job submit", "--address", "ray up", "kubectl", "crontab",
                  "NFS", "s3://", "sweep nightly"):
        assert topic in text, topic
