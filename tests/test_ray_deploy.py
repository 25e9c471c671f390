"""The KubeRay example (scripts/kuberay-rayjob.yaml) runs what the package pins, quietly.

A RayJob whose `rayVersion` or image differs from the `ray` pin of the extra
starts a cluster that the driver cannot join; a pod without
`RAY_USAGE_STATS_ENABLED=0` reports usage to Ray's servers.
"""

from __future__ import annotations

import re
import tomllib

import yaml

from conftest import ROOT
from pipeline.config import Settings


def _documents() -> dict[str, dict]:
    docs = yaml.safe_load_all((ROOT / "scripts" / "kuberay-rayjob.yaml").read_text(encoding="utf-8"))
    return {d["kind"]: d for d in docs}


def test_rayjob_uses_the_pinned_ray_version():
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    pin = re.fullmatch(r"ray==([0-9.]+)", extra["ray"][0])
    assert pin, f"the ray extra must be an exact pin, not {extra['ray']}"
    job = _documents()["RayJob"]
    assert job["spec"]["rayClusterSpec"]["rayVersion"] == pin.group(1)


def test_rayjob_pods_turn_usage_statistics_off_and_the_config_runs_on_the_cluster():
    docs = _documents()
    cluster = docs["RayJob"]["spec"]["rayClusterSpec"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    for group in groups:
        for container in group["template"]["spec"]["containers"]:
            env = {e["name"]: e["value"] for e in container.get("env", [])}
            assert env.get("RAY_USAGE_STATS_ENABLED") == "0", container["name"]
    config = Settings.model_validate(yaml.safe_load(docs["ConfigMap"]["data"]["ray.yaml"]))
    assert config.run.executor == "ray" and config.ray.address == "auto"
    assert "/etc/pipeline/ray.yaml" in docs["RayJob"]["spec"]["entrypoint"]
