"""Per-trial resources: validation of numbers and ``auto``, and the arithmetic that resolves ``auto``
against what a Ray instance reports (pure: no Ray, no TensorFlow)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.errors import SpecError
from orchestrator.spec import ResourcesSpec, parse_spec


def _resources(**r: object) -> ResourcesSpec:
    return parse_spec({"name": "r", "data": {"dataset": "digits"}, "resources": r}).resources


def test_numbers_and_auto_are_accepted() -> None:
    assert _resources() == ResourcesSpec(cpu=1.0, gpu=0.0, max_concurrent=None)
    r = _resources(cpu=0.5, gpu=0.25, max_concurrent=3)
    assert (r.cpu, r.gpu, r.max_concurrent) == (0.5, 0.25, 3) and not r.is_auto
    r = _resources(cpu="auto", gpu="AUTO", max_concurrent="auto")
    assert (r.cpu, r.gpu, r.max_concurrent) == ("auto", "auto", "auto") and r.is_auto


@pytest.mark.parametrize("resources, key, message", [
    ({"cpu": -1}, "resources.cpu", "must be auto or a number greater than 0, got -1"),
    ({"cpu": 0}, "resources.cpu", "greater than 0, got 0"),
    ({"cpu": "many"}, "resources.cpu", "must be auto or a number greater than 0, got 'many'"),
    ({"gpu": -0.5}, "resources.gpu", "greater than or equal to 0, got -0.5"),
    ({"gpu": 1.5}, "resources.gpu", "more than one GPU per trial must be a whole number, got 1.5"),
    ({"max_concurrent": 0}, "resources.max_concurrent", "whole number greater than or equal to 1, got 0"),
    ({"max_concurrent": 2.5}, "resources.max_concurrent", "got 2.5"),
    ({"max_concurrent": "lots"}, "resources.max_concurrent", "must be auto or a whole number"),
])
def test_bad_resources_are_one_line_errors(resources, key, message) -> None:
    with pytest.raises(SpecError) as err:
        _resources(**resources)
    assert err.value.key == key
    assert message in err.value.message
    assert "\n" not in str(err.value)


def test_numbers_resolve_to_themselves() -> None:
    r = ResourcesSpec(cpu=2, gpu=0.5, max_concurrent=3)
    assert r.resolve(16, 4, trials=100) == r


def test_cpu_auto_is_one_cpu_per_trial_when_trials_outnumber_cpus() -> None:
    r = ResourcesSpec(cpu="auto").resolve(2, 0, trials=32)
    assert (r.cpu, r.gpu, r.max_concurrent) == (1.0, 0.0, None)


def test_cpu_auto_shares_the_cpus_among_fewer_trials() -> None:
    assert ResourcesSpec(cpu="auto").resolve(16, 0, trials=4).cpu == 4.0
    assert ResourcesSpec(cpu="auto").resolve(2, 0, trials=1).cpu == 2.0
    assert ResourcesSpec(cpu="auto").resolve(16, 0, trials=3).cpu == 5.0
    # a trial runs on one node: never more CPUs than the largest node has
    assert ResourcesSpec(cpu="auto").resolve(32, 0, node_cpus=8, trials=2).cpu == 8.0
    # a concurrency cap counts like fewer trials
    assert ResourcesSpec(cpu="auto", max_concurrent=2).resolve(8, 0, trials=50).cpu == 4.0
    # unknown number of trials: one CPU each
    assert ResourcesSpec(cpu="auto").resolve(8, 0).cpu == 1.0


def test_gpu_auto_without_gpus_is_zero() -> None:
    r = ResourcesSpec(cpu="auto", gpu="auto").resolve(4, 0, trials=10)
    assert (r.cpu, r.gpu) == (1.0, 0.0)


def test_gpu_auto_splits_a_gpu_so_every_cpu_slot_is_used() -> None:
    # 8 one-CPU trials at once, one GPU: an eighth each
    assert ResourcesSpec(cpu=1, gpu="auto").resolve(8, 1, trials=100).gpu == 0.125
    # 4 slots on 2 GPUs: half each
    assert ResourcesSpec(cpu=1, gpu="auto").resolve(4, 2, trials=100).gpu == 0.5
    # 3 slots on 2 GPUs: 2 trials share a GPU, so a half each (4 would fit; 3 run)
    assert ResourcesSpec(cpu=1, gpu="auto").resolve(3, 2, trials=100).gpu == 0.5
    # 3 trials per GPU: a fraction Ray accepts (1e-4 precision) and three of which fit in one GPU
    g = ResourcesSpec(cpu=1, gpu="auto").resolve(3, 1, trials=100).gpu
    assert g == 0.3333 and 3 * g <= 1
    # more GPUs than trials at once: whole GPUs
    assert ResourcesSpec(cpu=4, gpu="auto").resolve(8, 4, trials=100).gpu == 2.0
    assert ResourcesSpec(cpu="auto", gpu="auto").resolve(2, 4, trials=1).gpu == 4.0
    assert ResourcesSpec(cpu="auto", gpu="auto").resolve(2, 4, node_gpus=2, trials=1).gpu == 2.0
    # few trials: shares follow the trials, not the CPUs
    assert ResourcesSpec(cpu=1, gpu="auto").resolve(16, 1, trials=2).gpu == 0.5


def test_max_concurrent_auto_is_what_fits() -> None:
    assert ResourcesSpec(cpu=1, max_concurrent="auto").resolve(2, 0, trials=32).max_concurrent == 2
    assert ResourcesSpec(cpu=0.5, max_concurrent="auto").resolve(2, 0).max_concurrent == 4
    assert ResourcesSpec(cpu=1, gpu=0.5, max_concurrent="auto").resolve(16, 2).max_concurrent == 4
    r = ResourcesSpec(cpu="auto", gpu="auto", max_concurrent="auto").resolve(8, 1, trials=100)
    assert (r.cpu, r.gpu, r.max_concurrent) == (1.0, 0.125, 8)
    assert not r.is_auto


def test_resolved_resources_validate_again() -> None:
    r = ResourcesSpec(cpu="auto", gpu="auto", max_concurrent="auto").resolve(3, 1, trials=5)
    assert ResourcesSpec.model_validate(r.model_dump()) == r


def test_gpu_memory_limit_is_proportional_to_the_share() -> None:
    from orchestrator.training.worker import gpu_memory_limit_mb

    # four quarter-GPU trials fit in a 16 GB GPU, each leaving room for its CUDA context
    limits = [gpu_memory_limit_mb(16_000, 0.25, reserve_mb=512) for _ in range(4)]
    assert limits == [3488] * 4 and sum(limits) + 4 * 512 <= 16_000
    assert gpu_memory_limit_mb(80_000, 0.5, reserve_mb=512) == 39_488
    # a whole GPU (or more) or no GPU: no limit (memory growth instead)
    assert gpu_memory_limit_mb(16_000, 1.0) is None
    assert gpu_memory_limit_mb(16_000, 2.0) is None
    assert gpu_memory_limit_mb(16_000, 0.0) is None
    # unknown total: no limit
    assert gpu_memory_limit_mb(0, 0.25) is None
    # a tiny share still gets a usable floor
    assert gpu_memory_limit_mb(4_000, 0.01, reserve_mb=512) == 256


def test_importing_the_trainable_imports_neither_tensorflow_nor_ray() -> None:
    import subprocess
    import sys

    code = ("import sys, orchestrator.training.trainable; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'ray', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tensorflow_loads_without_keras_extras_which_stay_importable(tmp_path):
    """A worker's ``import_tensorflow`` hides scikit-learn and matplotlib from the import while
    TensorFlow (here a stand-in package that records what it could import) loads, and only then."""
    import subprocess
    import sys

    fake = tmp_path / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "SEEN = {}\n"
        "for name in ('sklearn', 'matplotlib.pyplot', 'json'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "        SEEN[name] = True\n"
        "    except ImportError:\n"
        "        SEEN[name] = False\n")
    (tmp_path / "keras.py").write_text("")
    code = ("import sys; from orchestrator.training.worker import import_tensorflow\n"
            "tf = import_tensorflow()\n"
            "import sklearn, matplotlib.pyplot\n"  # importable again afterwards
            "print(tf.SEEN, import_tensorflow() is tf)")
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{root}", "PATH": os.environ.get("PATH", "")})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "{'sklearn': False, 'matplotlib.pyplot': False, 'json': True} True"
