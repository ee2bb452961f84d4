"""The tools benchmarks/peers.py compares, each run the way its documentation recommends.

Every tool runs in its own process, started by ``peers.py`` with the same prepared data (an .npz of
the orchestrator's own split and scaling), the same search space (:data:`SPACE`), the same model
family (a Keras MLP: ``hidden_layers`` x ``units`` with ``dropout``, softmax or linear output) and
a wall-clock budget counted from ``--t0`` (when ``peers.py`` started the process). Each writes a
JSON-lines log as it goes, so ``peers.py`` can stop it hard at the budget and lose nothing::

    {"ev": "start", "trial": ID, "t": UNIX_TIME, "config": {...}}
    {"ev": "epoch", "trial": ID, "t": UNIX_TIME, "epoch": K, "val": VALUE}

Tools (``python benchmarks/peers_tools.py TOOL --data D.npz --log L.jsonl --budget S --t0 T ...``):

- ``random``: a plain sequential random-search loop in one process (TensorFlow's default threads,
  i.e. all cores), every trial trained to full length.
- ``keras_tuner``: KerasTuner ``Hyperband`` (``max_epochs``, ``factor=3``), the search its
  documentation leads with; ``hyperband_iterations`` high so it keeps searching until stopped.
- ``optuna``: Optuna's TPE sampler with its ``HyperbandPruner``, ``study.optimize(n_jobs=2,
  timeout=...)`` (threads in one process, sharing TensorFlow's thread pools; no
  ``clear_session`` per trial, which would clear the other thread's graph).
- ``raytune``: a hand-written Ray Tune script: random search (``BasicVariantGenerator``),
  ``ASHAScheduler``, one CPU per trial (TensorFlow pinned to one thread), ``num_samples=-1`` and
  ``TuneConfig(time_budget_s=...)``.
- ``orchestrator``: ``sweep run SPEC --budget S`` (the spec ``peers.py`` writes: random search +
  ASHA; the budget left when the command starts).
- ``seq_fixed`` / ``orch_fixed``: a given list of configurations trained to full length, one after
  another in one process vs through ``sweep run`` (the throughput comparison).
- ``tiny_raytune``: the trivial workload of the bound section through a hand-written Ray Tune script.
- ``evaluate``: the common re-evaluation: train each selected configuration from scratch with one
  seed for the full epochs, keep the weights of the best validation epoch, score the test split.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

T_PROCESS = time.time()
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("PYTHONWARNINGS", "ignore")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")

# The search space every tool searches (orchestrator spec syntax; peers.py writes it into the spec).
SPACE: dict[str, dict[str, Any]] = {
    "optimizer": {"type": "choice", "values": ["adam", "sgd", "rmsprop"]},
    "learning_rate": {"type": "loguniform", "low": 1.0e-4, "high": 0.3},
    "momentum": {"type": "uniform", "low": 0.0, "high": 0.95, "when": {"optimizer": "sgd"}},
    "hidden_layers": {"type": "int", "low": 1, "high": 3},
    "units": {"type": "choice", "values": [16, 32, 64, 128]},
    "dropout": {"type": "uniform", "low": 0.0, "high": 0.5},
    "batch_size": {"type": "choice", "values": [32, 64, 128]},
}


# --------------------------------------------------------------------------------------------
# Shared pieces: data, sampling, the model, the log
# --------------------------------------------------------------------------------------------

class Data:
    def __init__(self, path: str) -> None:
        import numpy as np

        z = np.load(path, allow_pickle=False)
        self.X, self.y, self.Xv, self.yv = z["X_train"], z["y_train"], z["X_val"], z["y_val"]
        self.Xt, self.yt = z["X_test"], z["y_test"]
        self.task = str(z["task"])
        self.n_classes = int(z["n_classes"])
        self.metric = str(z["metric"])          # val_accuracy | val_mse
        self.mode = str(z["mode"])              # max | min
        self.epochs = int(z["epochs"])

    @property
    def keras_metric(self) -> str:
        """The Keras log key of the validation metric."""
        return "val_accuracy" if self.task == "classification" else "val_loss"  # loss is mse


def sample(rng: Any) -> dict[str, Any]:
    """One configuration drawn from :data:`SPACE` (as the orchestrator's random search draws)."""
    cfg: dict[str, Any] = {}
    for name, d in SPACE.items():
        when = d.get("when")
        if when and any(cfg.get(k) != v for k, v in when.items()):
            continue
        t = d["type"]
        if t == "choice":
            cfg[name] = d["values"][int(rng.integers(len(d["values"])))]
        elif t == "loguniform":
            cfg[name] = float(math.exp(rng.uniform(math.log(d["low"]), math.log(d["high"]))))
        elif t == "uniform":
            cfg[name] = float(rng.uniform(d["low"], d["high"]))
        elif t == "int":
            cfg[name] = int(rng.integers(d["low"], d["high"] + 1))
    return cfg


def build_model(cfg: dict[str, Any], n_features: int, task: str, n_classes: int, seed: int | None = None) -> Any:
    """The model family every peer trains: an MLP as the orchestrator builds it (plain Keras)."""
    import keras

    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(shape=(n_features,))])
    for _ in range(int(cfg["hidden_layers"])):
        model.add(keras.layers.Dense(int(cfg["units"]), activation="relu"))
        if float(cfg.get("dropout") or 0.0) > 0:
            model.add(keras.layers.Dropout(float(cfg["dropout"])))
    lr = float(cfg["learning_rate"])
    if cfg["optimizer"] == "sgd":
        opt = keras.optimizers.SGD(lr, momentum=float(cfg.get("momentum") or 0.0))
    elif cfg["optimizer"] == "rmsprop":
        opt = keras.optimizers.RMSprop(lr)
    else:
        opt = keras.optimizers.Adam(lr)
    if task == "classification":
        model.add(keras.layers.Dense(n_classes, activation="softmax"))
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    else:
        model.add(keras.layers.Dense(1))
        model.compile(optimizer=opt, loss="mse")
    return model


class Log:
    """Append-only JSON lines, flushed at every write (the process may be killed at any time)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.f = open(path, "a", encoding="utf-8", buffering=1)

    def __reduce__(self) -> Any:  # Ray Tune pickles its callbacks with the experiment state
        return (Log, (self.path,))

    def write(self, **row: Any) -> None:
        row.setdefault("t", time.time())
        self.f.write(json.dumps(row) + "\n")
        self.f.flush()


def finite(x: Any) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def epoch_logger(log: Log, trial: str, key: str, offset: int = 0, on_epoch: Callable[[int, float | None], None] | None = None) -> Any:
    import keras

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            v = finite((logs or {}).get(key))
            log.write(ev="epoch", trial=trial, epoch=offset + epoch + 1, val=v)
            if on_epoch is not None:
                on_epoch(epoch, v)

    return EpochLog()


def tf_threads(n: int) -> None:
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:
        pass


# --------------------------------------------------------------------------------------------
# The tools
# --------------------------------------------------------------------------------------------

def _random(a: argparse.Namespace, data: Data, log: Log) -> None:
    import numpy as np
    import keras

    rng = np.random.default_rng(a.seed)
    i = 0
    while time.time() < a.t0 + a.budget:
        cfg = sample(rng)
        tid = f"r{i:04d}"
        log.write(ev="start", trial=tid, config=cfg)
        keras.backend.clear_session()
        model = build_model(cfg, data.X.shape[1], data.task, data.n_classes, seed=a.seed * 100_000 + i)
        model.fit(data.X, data.y, validation_data=(data.Xv, data.yv), epochs=data.epochs,
                  batch_size=int(cfg["batch_size"]), verbose=0, callbacks=[epoch_logger(log, tid, data.keras_metric)])
        i += 1


def _keras_tuner(a: argparse.Namespace, data: Data, log: Log) -> None:
    import keras
    import keras_tuner as kt

    current: dict[str, Any] = {"cfg": None, "n": 0}

    def build(hp: Any) -> Any:
        cfg = {"optimizer": hp.Choice("optimizer", ["adam", "sgd", "rmsprop"])}
        cfg["learning_rate"] = hp.Float("learning_rate", 1e-4, 0.3, sampling="log")
        if cfg["optimizer"] == "sgd":  # conditional, as KerasTuner's docs show it
            with hp.conditional_scope("optimizer", ["sgd"]):
                cfg["momentum"] = hp.Float("momentum", 0.0, 0.95)
        cfg["hidden_layers"] = hp.Int("hidden_layers", 1, 3)
        cfg["units"] = hp.Choice("units", [16, 32, 64, 128])
        cfg["dropout"] = hp.Float("dropout", 0.0, 0.5)
        cfg["batch_size"] = hp.Choice("batch_size", [32, 64, 128])
        current["cfg"] = cfg
        return build_model(cfg, data.X.shape[1], data.task, data.n_classes)

    class HB(kt.Hyperband):
        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs["batch_size"] = trial.hyperparameters.get("batch_size")
            return super().run_trial(trial, *args, **kwargs)

    class TrialLog(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            self.tid = f"k{current['n']:04d}"
            current["n"] += 1
            log.write(ev="start", trial=self.tid, config=current["cfg"])

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            log.write(ev="epoch", trial=self.tid, epoch=epoch + 1, val=finite((logs or {}).get(data.keras_metric)))

    objective = kt.Objective(data.keras_metric, direction=data.mode)
    tuner = HB(build, objective=objective, max_epochs=data.epochs, factor=3, hyperband_iterations=1000,
               seed=a.seed, directory=a.workdir, project_name="kt", overwrite=True)
    tuner.search(data.X, data.y, validation_data=(data.Xv, data.yv), callbacks=[TrialLog()], verbose=0)


def _optuna(a: argparse.Namespace, data: Data, log: Log) -> None:
    import threading

    import keras
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    lock = threading.Lock()

    def objective(trial: Any) -> float:
        cfg = {"optimizer": trial.suggest_categorical("optimizer", ["adam", "sgd", "rmsprop"]),
               "learning_rate": trial.suggest_float("learning_rate", 1e-4, 0.3, log=True)}
        if cfg["optimizer"] == "sgd":
            cfg["momentum"] = trial.suggest_float("momentum", 0.0, 0.95)
        cfg["hidden_layers"] = trial.suggest_int("hidden_layers", 1, 3)
        cfg["units"] = trial.suggest_categorical("units", [16, 32, 64, 128])
        cfg["dropout"] = trial.suggest_float("dropout", 0.0, 0.5)
        cfg["batch_size"] = trial.suggest_categorical("batch_size", [32, 64, 128])
        tid = f"o{trial.number:04d}"
        log.write(ev="start", trial=tid, config=cfg)
        with lock:  # model construction touches Keras' global name state
            model = build_model(cfg, data.X.shape[1], data.task, data.n_classes)
        best = {"v": None, "pruned": False}
        better = (lambda x, y: x > y) if data.mode == "max" else (lambda x, y: x < y)

        def on_epoch(epoch: int, v: float | None) -> None:
            if v is None:
                best["pruned"] = True
                model.stop_training = True
                return
            if best["v"] is None or better(v, best["v"]):
                best["v"] = v
            trial.report(v, epoch + 1)  # what optuna-integration's TFKerasPruningCallback does
            if trial.should_prune():
                best["pruned"] = True
                model.stop_training = True

        model.fit(data.X, data.y, validation_data=(data.Xv, data.yv), epochs=data.epochs,
                  batch_size=int(cfg["batch_size"]), verbose=0,
                  callbacks=[epoch_logger(log, tid, data.keras_metric, on_epoch=on_epoch)])
        if best["pruned"]:
            raise optuna.TrialPruned()
        return float(best["v"]) if best["v"] is not None else float("nan")

    study = optuna.create_study(
        direction="maximize" if data.mode == "max" else "minimize",
        sampler=optuna.samplers.TPESampler(seed=a.seed),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=data.epochs, reduction_factor=3))
    remaining = max(1.0, a.t0 + a.budget - time.time())
    study.optimize(objective, timeout=remaining, n_jobs=a.cpus, catch=(Exception,))
    del keras


def _raytune_common(a: argparse.Namespace) -> Any:
    import logging

    import ray

    ray.init(num_cpus=a.cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
             runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0",
                                       "KERAS_BACKEND": "tensorflow", "PYTHONWARNINGS": "ignore"}})
    return ray


def _raytune(a: argparse.Namespace, data: Data, log: Log) -> None:
    ray = _raytune_common(a)
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    arrays = (data.X, data.y, data.Xv, data.yv)
    task, n_classes, key = data.task, data.n_classes, data.keras_metric

    def train(config: dict, arrays: tuple) -> None:
        tf_threads(1)  # the trial's CPU share
        import keras

        X, y, Xv, yv = arrays
        cfg = {k: v for k, v in config.items() if not (k == "momentum" and config["optimizer"] != "sgd")}
        keras.backend.clear_session()
        model = build_model(cfg, X.shape[1], task, n_classes)

        class Report(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                tune.report({"val": float((logs or {}).get(key, float("nan"))), "epoch": epoch + 1})

        model.fit(X, y, validation_data=(Xv, yv), epochs=int(config["epochs"]),
                  batch_size=int(config["batch_size"]), verbose=0, callbacks=[Report()])

    class Collect(tune.Callback):
        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            c = dict(trial.config)
            c.pop("epochs", None)
            if c.get("optimizer") != "sgd":
                c.pop("momentum", None)
            log.write(ev="start", trial=trial.trial_id, config=c)

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            log.write(ev="epoch", trial=trial.trial_id, epoch=int(result["epoch"]), val=finite(result.get("val")))

    space = {
        "optimizer": tune.choice(["adam", "sgd", "rmsprop"]),
        "learning_rate": tune.loguniform(1e-4, 0.3),
        "momentum": tune.uniform(0.0, 0.95),  # used by sgd only
        "hidden_layers": tune.randint(1, 4),
        "units": tune.choice([16, 32, 64, 128]),
        "dropout": tune.uniform(0.0, 0.5),
        "batch_size": tune.choice([32, 64, 128]),
        "epochs": data.epochs,
    }
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(train, arrays=arrays), {"cpu": 1}),
        param_space=space,
        tune_config=tune.TuneConfig(
            metric="val", mode=data.mode, num_samples=-1,
            scheduler=ASHAScheduler(time_attr="training_iteration", max_t=data.epochs, grace_period=1,
                                    reduction_factor=3),
            search_alg=tune.search.BasicVariantGenerator(random_state=a.seed),
            time_budget_s=max(1.0, a.t0 + a.budget - time.time())),
        run_config=tune.RunConfig(storage_path=a.workdir, name="raytune", verbose=0, callbacks=[Collect()]),
    )
    tuner.fit()
    ray.shutdown()


def _orchestrator(a: argparse.Namespace, data: Data | None, log: Log | None) -> None:
    """``sweep run SPEC --out WORKDIR --budget`` (what is left of the budget; the journal is the log)."""
    from orchestrator.cli import entry

    left = max(1.0, a.t0 + a.budget - time.time())
    sys.argv = ["sweep", "run", a.spec, "--out", a.workdir, "--budget", f"{left:.2f}"]
    entry()


def _seq_fixed(a: argparse.Namespace, data: Data, log: Log) -> None:
    """Given configurations, full length, one after another in this process (TF's default threads)."""
    import keras

    configs = json.loads(Path(a.configs).read_text())
    for i, cfg in enumerate(configs):
        tid = f"s{i:04d}"
        log.write(ev="start", trial=tid, config=cfg)
        keras.backend.clear_session()
        model = build_model(cfg, data.X.shape[1], data.task, data.n_classes, seed=i)
        model.fit(data.X, data.y, validation_data=(data.Xv, data.yv), epochs=data.epochs,
                  batch_size=int(cfg["batch_size"]), verbose=0, callbacks=[epoch_logger(log, tid, data.keras_metric)])
    log.write(ev="done")


def _orch_fixed(a: argparse.Namespace, data: Data | None, log: Log | None) -> None:
    """The same configurations through the orchestrator (search points, no scheduler)."""
    from orchestrator.progress import ProgressView
    from orchestrator.execution import run_sweep
    from orchestrator.decisions.space import count_trials
    from orchestrator.spec import load_spec

    configs = json.loads(Path(a.configs).read_text())
    spec = load_spec(a.spec)
    view = ProgressView(spec.name, count_trials(spec), spec.metric_name, spec.mode, list(spec.searched),
                        interactive=False)
    run_sweep(spec, a.workdir, view=view, warm_start=configs, ray_resources={"num_cpus": a.cpus})


def _tiny_raytune(a: argparse.Namespace, data: Data, log: Log) -> None:
    """The bound section's trivial workload, hand-written with Ray Tune (as one would; FIFO)."""
    ray = _raytune_common(a)
    from ray import tune

    arrays = (data.X, data.y, data.Xv, data.yv)
    task, n_classes, key, epochs = data.task, data.n_classes, data.keras_metric, data.epochs

    def train(config: dict, arrays: tuple) -> None:
        tf_threads(1)
        import keras

        X, y, Xv, yv = arrays
        keras.backend.clear_session()
        model = build_model(config, X.shape[1], task, n_classes)

        class Report(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                tune.report({"val": float((logs or {}).get(key, float("nan"))), "epoch": epoch + 1})

        model.fit(X, y, validation_data=(Xv, yv), epochs=epochs, batch_size=int(config["batch_size"]),
                  verbose=0, callbacks=[Report()])

    class Collect(tune.Callback):
        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            log.write(ev="start", trial=trial.trial_id, config=dict(trial.config))

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            log.write(ev="epoch", trial=trial.trial_id, epoch=int(result["epoch"]), val=finite(result.get("val")))

    space = {"optimizer": "adam", "learning_rate": tune.loguniform(1e-3, 1e-1), "hidden_layers": 1, "units": 16,
             "dropout": 0.0, "batch_size": 128}
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(train, arrays=arrays), {"cpu": 1}),
        param_space=space,
        tune_config=tune.TuneConfig(metric="val", mode=data.mode, num_samples=a.trials,
                                    search_alg=tune.search.BasicVariantGenerator(random_state=a.seed)),
        run_config=tune.RunConfig(storage_path=a.workdir, name="tiny", verbose=0, callbacks=[Collect()]),
    )
    tuner.fit()
    ray.shutdown()
    log.write(ev="done")


def _evaluate(a: argparse.Namespace, data: Data, log: Log | None) -> None:
    """The common procedure: each configuration from scratch, one seed, full epochs, best val epoch's
    weights, one test score. Writes ``--result`` (a JSON list, one entry per configuration)."""
    import keras

    configs = json.loads(Path(a.configs).read_text())
    better = (lambda x, y: x > y) if data.mode == "max" else (lambda x, y: x < y)
    out = []
    for cfg in configs:
        keras.backend.clear_session()
        model = build_model(cfg, data.X.shape[1], data.task, data.n_classes, seed=a.seed)
        state: dict[str, Any] = {"best": None, "weights": None, "epoch": 0}

        class Keep(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                v = finite((logs or {}).get(data.keras_metric))
                if v is not None and (state["best"] is None or better(v, state["best"])):
                    state.update(best=v, weights=self.model.get_weights(), epoch=epoch + 1)

        model.fit(data.X, data.y, validation_data=(data.Xv, data.yv), epochs=data.epochs,
                  batch_size=int(cfg["batch_size"]), verbose=0, shuffle=True, callbacks=[Keep()])
        if state["weights"] is not None:
            model.set_weights(state["weights"])
        res = model.evaluate(data.Xt, data.yt, verbose=0, return_dict=True)
        test = float(res["accuracy"]) if data.task == "classification" else float(res["loss"])
        out.append({"config": cfg, "val": state["best"], "best_epoch": state["epoch"], "test": finite(test)})
    Path(a.result).write_text(json.dumps(out))


TOOLS: dict[str, Callable[..., None]] = {
    "random": _random, "keras_tuner": _keras_tuner, "optuna": _optuna, "raytune": _raytune,
    "orchestrator": _orchestrator, "seq_fixed": _seq_fixed, "orch_fixed": _orch_fixed,
    "tiny_raytune": _tiny_raytune, "evaluate": _evaluate,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tool", choices=sorted(TOOLS))
    ap.add_argument("--data", help="prepared data (.npz)")
    ap.add_argument("--log", help="JSON-lines log to append to")
    ap.add_argument("--budget", type=float, default=60.0)
    ap.add_argument("--t0", type=float, default=None, help="when the budget started (default: this process' start)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--workdir", default=".")
    ap.add_argument("--spec", help="orchestrator spec (orchestrator, orch_fixed)")
    ap.add_argument("--configs", help="JSON list of configurations (seq_fixed, orch_fixed, evaluate)")
    ap.add_argument("--trials", type=int, default=16, help="tiny_raytune: number of trials")
    ap.add_argument("--result", help="evaluate: output JSON")
    a = ap.parse_args()
    a.t0 = a.t0 or T_PROCESS
    data = Data(a.data) if a.data else None
    log = Log(a.log) if a.log else None
    if log is not None:
        log.write(ev="process", tool=a.tool, pid=os.getpid(), t=T_PROCESS)
    if a.tool in ("random", "keras_tuner", "optuna", "seq_fixed", "evaluate"):
        import tensorflow as tf  # noqa: F401  (TensorFlow's default threads: every core)
    TOOLS[a.tool](a, data, log)
    if log is not None:
        log.write(ev="end")


if __name__ == "__main__":
    main()
