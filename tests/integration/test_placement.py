"""Placement: fractional (logical) GPUs, concurrency within the slots, TensorFlow confined to the CPU share."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.helpers import only_run_dir, run_cli, write_spec


def _max_overlap(trials: pd.DataFrame) -> int:
    points = []
    for _, r in trials.iterrows():
        points.append((r["started_at"], 1))
        points.append((r["ended_at"], -1))
    live = peak = 0
    for _, step in sorted(points, key=lambda p: (p[0], p[1])):
        live += step
        peak = max(peak, live)
    return peak


def test_half_gpu_trials_pack_two_per_gpu(ray_session, tmp_path):
    spec = write_spec(tmp_path, {
        "name": "gpu_half",
        "data": {"dataset": "exam", "samples": 300},
        "model": {"epochs": 2, "units": 8, "batch_size": 64},
        "params": {"learning_rate": {"type": "loguniform", "low": 1.0e-3, "high": 0.1}},
        "search": {"algorithm": "random", "num_samples": 10, "seed": 0},
        "resources": {"cpu": 0.25, "gpu": 0.5},
    })
    out = tmp_path / "out"
    assert run_cli("run", spec, "--out", out) == 0
    trials = pd.read_parquet(only_run_dir(out) / "trials.parquet")
    assert len(trials) == 10
    assert (trials["gpus"] == 0.5).all() and (trials["cpus"] == 0.25).all()
    # Ray gave every trial one GPU id out of the 4, and the trial's process saw exactly that id
    assert trials["gpu_ids"].isin(["0", "1", "2", "3"]).all()
    assert (trials["cuda_visible_devices"] == trials["gpu_ids"]).all()
    # 4 GPUs / 0.5 per trial = 8 slots: never more trials at once than that
    assert 1 <= _max_overlap(trials) <= 8
    # at most two trials share a GPU at any moment
    for gpu, group in trials.groupby("gpu_ids"):
        assert _max_overlap(group) <= 2, gpu
    # a quarter of a CPU still gets one TensorFlow thread, never the machine's default
    assert (trials["tf_intra_op_threads"] == 1).all()


@pytest.mark.parametrize("algorithm", ["random", "tpe"])
def test_max_concurrent_caps_the_trials_running_at_once(ray_session, tmp_path, algorithm):
    # half a CPU a trial: the 2-CPU Ray has 4 slots, and max_concurrent allows one
    spec = write_spec(tmp_path, {
        "name": f"one_at_a_time_{algorithm}",
        "data": {"dataset": "exam", "samples": 300},
        "model": {"epochs": 2, "units": 8, "batch_size": 64},
        "params": {"learning_rate": {"type": "loguniform", "low": 1.0e-3, "high": 0.1}},
        "search": {"algorithm": algorithm, "num_samples": 4, "seed": 0},
        "resources": {"cpu": 0.5, "max_concurrent": 1},
    })
    out = tmp_path / "out"
    assert run_cli("run", spec, "--out", out) == 0
    trials = pd.read_parquet(only_run_dir(out) / "trials.parquet")
    assert len(trials) == 4 and (trials["status"] == "completed").all()
    assert _max_overlap(trials) == 1


def test_tensorflow_threads_follow_the_cpu_share(ray_session, tmp_path):
    spec = write_spec(tmp_path, {
        "name": "two_cpus",
        "data": {"dataset": "exam", "samples": 300},
        "model": {"epochs": 1, "units": 8},
        "params": {"learning_rate": {"type": "grid", "values": [0.01, 0.02]}},
        "search": {"algorithm": "grid"},
        "resources": {"cpu": 2},
    })
    out = tmp_path / "out"
    assert run_cli("run", spec, "--out", out) == 0
    trials = pd.read_parquet(only_run_dir(out) / "trials.parquet")
    assert (trials["tf_intra_op_threads"] == 2).all()
    assert _max_overlap(trials) == 1  # two CPUs per trial on a 2-CPU Ray: one at a time


def test_more_cpus_than_any_node_fails_fast(ray_session, tmp_path, capsys):
    spec = write_spec(tmp_path, {"name": "too_big", "data": {"dataset": "exam"}, "resources": {"cpu": 64}})
    out = tmp_path / "out"
    assert run_cli("run", spec, "--out", out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "too_big.yaml: resources.cpu" in err[0] and "64" in err[0]
    assert not out.exists()
