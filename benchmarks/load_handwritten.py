"""The load benchmark's baseline: the same trivial trials written directly against Ray Tune.

An embedded Ray with the CPUs asked for, ``tune.Tuner`` with ``num_samples`` random learning rates,
1 CPU per trial, actor reuse on, no scheduler, Tune's own storage under ``--out``. Each trial does
the same Keras work as the orchestrator's trials: it calls the orchestrator's training function
(``run_trial``: cached model, one epoch, a checkpoint when the metric improves) and reports
through ``tune.report``. Left out is everything the orchestrator adds around Tune: the event sink
(journal, Parquet tables, progress line), the curve diagnosis, stoppers and the final test
evaluation. So the two differ only in the orchestration, which is what the comparison measures.

    python benchmarks/load_handwritten.py --spec benchmarks/specs/load.yaml --trials 2000 --out /tmp/hw

Prints one JSON line: wall seconds inside the script, per-trial ``trial_elapsed_s``, trial count.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

T0 = time.time()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", required=True)
    ap.add_argument("--trials", type=int, required=True)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    for k, v in {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "RAY_USAGE_STATS_ENABLED": "0",
                 "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "KERAS_BACKEND": "tensorflow"}.items():
        os.environ.setdefault(k, v)
    import ray
    from ray import tune

    from orchestrator import data as data_mod
    from orchestrator.decisions.space import resolve_config
    from orchestrator.spec import load_spec
    from orchestrator.training import TrialData, configure_tensorflow, run_trial

    spec = load_spec(args.spec)
    _, prepared = data_mod.load_for(spec)
    data = TrialData.of(prepared.without_test())
    lr = spec.params["learning_rate"]

    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)

    def trainable(config: dict, data: TrialData) -> None:
        started = time.time()
        threads = configure_tensorflow(1.0)
        hp = resolve_config(spec, config)
        seed = hash(tune.get_context().get_trial_id()) % (2**31)

        def report(row: dict, checkpoint_dir: str | None) -> None:
            if checkpoint_dir is None:
                tune.report(row)
            else:
                tune.report(row, checkpoint=tune.Checkpoint.from_directory(checkpoint_dir))

        run_trial(hp, data, spec, seed, report=report, threads=threads, started=started)

    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, data=data), {"cpu": 1}),
        param_space={"learning_rate": tune.loguniform(lr.low, lr.high)},
        tune_config=tune.TuneConfig(metric="objective", mode=spec.mode, num_samples=args.trials, reuse_actors=True),
        run_config=tune.RunConfig(name="tune", storage_path=os.path.abspath(args.out), verbose=0,
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
    )
    grid = tuner.fit()
    elapsed = [float(r.metrics.get("trial_elapsed_s", float("nan"))) for r in grid]
    errors = sum(1 for r in grid if r.error is not None)
    ray.shutdown()
    print(json.dumps({"wall_s": time.time() - T0, "trials": len(grid), "errors": errors,
                      "trial_elapsed_s": elapsed}))


if __name__ == "__main__":
    main()
