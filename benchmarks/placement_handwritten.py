"""A hand-written Ray Tune sweep of Keras MLPs: the baseline of benchmarks/placement_bench.py.

What someone would write without the orchestrator: an embedded Ray, a function trainable that
builds and compiles a fresh Keras model for every trial, pins TensorFlow to one thread (the
trial's CPU share), and reports every epoch from a Keras callback; ASHA or no scheduler; actor
reuse on. The search space, the data (digits, the same split and scaling) and the configurations
(same search seed) are the orchestrator's, so both sides train the same trials.

    python benchmarks/placement_handwritten.py --out /tmp/hw.json [--scheduler asha] [--epochs 27]

Writes a JSON file: the command's start (``--t0``, else this process' start), Ray's start, every
epoch report (trial, epoch, wall time, trial start) and the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

T_PROCESS = time.time()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--scheduler", choices=["asha", "none"], default="asha")
    ap.add_argument("--trials", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=27)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--t0", type=float, default=None, help="the command's start (default: this process')")
    args = ap.parse_args()
    t0 = args.t0 or T_PROCESS

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from orchestrator import data as data_mod
    from orchestrator.decisions.space import resolve_config, to_param_space
    from orchestrator.spec import load_spec

    spec = load_spec(os.path.join(ROOT, "benchmarks", "specs", "asha_bench.yaml"))
    spec = spec.with_overrides(
        search=spec.search.model_copy(update={"num_samples": args.trials, "seed": args.seed}),
        params={**spec.params, "epochs": spec.params["epochs"].model_copy(update={"value": args.epochs})})
    raw = data_mod.load_raw(dataset="digits", seed=0)
    prep = data_mod.prepare(raw, seed=0)
    arrays = (prep.train.X, prep.train.y, prep.val.X, prep.val.y)
    n_classes = int(prep.n_classes)

    ray_started = time.time()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
             runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}})
    ray_ready = time.time()

    def train(config: dict, data: tuple) -> None:
        import tensorflow as tf

        try:  # one thread: the trial's CPU share
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass
        import keras

        started = time.time()
        hp = resolve_config(spec, config)
        X, y, Xv, yv = data
        keras.backend.clear_session()
        model = keras.Sequential([keras.Input(shape=(X.shape[1],))])
        for _ in range(int(hp["hidden_layers"])):
            model.add(keras.layers.Dense(int(hp["units"]), activation=hp["activation"]))
        model.add(keras.layers.Dense(n_classes, activation="softmax"))
        lr = float(hp["learning_rate"])
        opt = {"adam": lambda: keras.optimizers.Adam(lr),
               "sgd": lambda: keras.optimizers.SGD(lr, momentum=float(hp.get("momentum") or 0.0)),
               "rmsprop": lambda: keras.optimizers.RMSprop(lr)}[hp["optimizer"]]()
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])

        class Report(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                logs = logs or {}
                tune.report({"val_accuracy": float(logs.get("val_accuracy", 0.0)),
                             "val_loss": float(logs.get("val_loss", 0.0)), "epoch": epoch + 1,
                             "reported_at": time.time(), "trial_started": started, "pid": os.getpid()})

        model.fit(X, y, validation_data=(Xv, yv), epochs=int(hp["epochs"]), batch_size=int(hp["batch_size"]),
                  verbose=0, callbacks=[Report()])

    reports: list[dict] = []

    class Collect(tune.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):  # noqa: ANN001
            reports.append({"trial_id": trial.trial_id, "epoch": int(result["epoch"]),
                            "reported_at": float(result["reported_at"]), "received_at": time.time(),
                            "trial_started": float(result["trial_started"]), "pid": int(result["pid"])})

    scheduler = (ASHAScheduler(time_attr="training_iteration", max_t=args.epochs, grace_period=1,
                               reduction_factor=3) if args.scheduler == "asha" else FIFOScheduler())
    space = to_param_space(spec)
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(train, data=arrays), {"cpu": 1}),
        param_space=space,
        tune_config=tune.TuneConfig(metric="val_accuracy", mode="max", scheduler=scheduler,
                                    num_samples=args.trials, reuse_actors=True,
                                    search_alg=tune.search.BasicVariantGenerator(random_state=args.seed)),
        run_config=tune.RunConfig(storage_path=os.path.abspath(os.path.dirname(args.out) or "."),
                                  name=f"handwritten-{os.getpid()}", verbose=0, callbacks=[Collect()]),
    )
    tuner.fit()
    fit_done = time.time()
    ray.shutdown()
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"t0": t0, "process_started": T_PROCESS, "ray_started": ray_started, "ray_ready": ray_ready,
                   "fit_done": fit_done, "ended": time.time(), "trials": args.trials, "epochs": args.epochs,
                   "scheduler": args.scheduler, "reports": reports}, f)


if __name__ == "__main__":
    main()
