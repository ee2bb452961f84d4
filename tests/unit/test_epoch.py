"""What an epoch produces (orchestrator.training.epoch), from scripted Keras logs. No TensorFlow."""

from __future__ import annotations

import math
import subprocess
import sys

from orchestrator.training.epoch import (OBJECTIVE, WORST_OBJECTIVE, Divergence, EpochPath, improves, stop_reason,
                                         worst_objective)


def _path(divergence: Divergence, **kw) -> EpochPath:
    options = dict(metric="val_accuracy", mode="max", task="classification", max_epochs=3, divergence=divergence,
                   run_started_at=100.0, started=110.0)
    options.update(kw)
    return EpochPath(**options)


def _logs(loss: float, val_loss: float, acc: float = 0.5, val_acc: float = 0.5) -> dict[str, float]:
    return {"loss": loss, "val_loss": val_loss, "accuracy": acc, "val_accuracy": val_acc}


def test_importing_the_epoch_module_does_not_import_tensorflow() -> None:
    code = ("import sys, orchestrator.training.epoch; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_row_has_the_losses_metrics_timings_objective_and_stop_reason() -> None:
    path = _path(Divergence.parallel(10.0), baseline_column=2.3, first_row={"pid": 7})
    path.begin(111.0)
    e = path.end(1, _logs(2.0, 2.1, 0.3, 0.25), 0.01, 113.0)
    assert path.conclude(e) == ""
    assert e.row == {"epoch": 1, "learning_rate": 0.01, "elapsed_s": 13.0, "trial_elapsed_s": 3.0, "epoch_s": 2.0,
                     "baseline_loss": 2.3, "train_loss": 2.0, "val_loss": 2.1, "train_accuracy": 0.3,
                     "val_accuracy": 0.25, "diverged": False, OBJECTIVE: 0.25, "stop_reason": "",
                     "pid": 7, "started_at": 110.0}
    assert e.improved and path.best == 0.25 and path.best_epoch == 1
    e2 = path.end(2, _logs(1.0, 1.2, val_acc=0.2), 0.01, 114.0)
    path.conclude(e2)
    assert not e2.improved and "started_at" not in e2.row and path.best_epoch == 1


def test_the_parallel_rule_compares_with_the_first_loss_only() -> None:
    rule = Divergence.parallel(3.0)
    assert [rule(t, 1.0) for t in (2.0, 5.0, 6.5)] == [False, False, True]
    assert rule.first_loss == 2.0
    # a resumed trial keeps its first loss from the checkpoint
    assert Divergence.parallel(3.0, first_loss=1.0)(3.5, 1.0)
    assert Divergence.parallel(3.0)(math.nan, 1.0) and Divergence.parallel(3.0)(1.0, math.inf)


def test_the_babysitter_rule_also_compares_with_the_trivial_predictor() -> None:
    # a first loss already far above the trivial predictor's is a divergence for the babysitter only
    assert Divergence.babysitter(3.0, baseline=1.0)(4.0, 1.0)
    assert not Divergence.parallel(3.0)(4.0, 1.0)


def test_a_diverged_epoch_has_the_worst_objective_and_is_never_the_best() -> None:
    path = _path(Divergence.parallel(2.0), mode="min", metric="val_loss")
    path.conclude(path.end(1, _logs(1.0, 1.0), 0.1, 120.0))
    e = path.end(2, _logs(5.0, 0.5), 0.1, 121.0)
    assert e.diverged and not e.improved
    assert path.conclude(e, decided="diverged") == "diverged"
    assert e.row[OBJECTIVE] == WORST_OBJECTIVE == worst_objective("min") == -worst_objective("max")


def test_stop_reasons_come_in_their_order() -> None:
    base = dict(epoch=3, max_epochs=3, epoch_s=5.0, now=100.0, deadline=103.0)
    assert stop_reason(**base, decided="diverged", past_deadline=True) == "diverged"
    assert stop_reason(**base, past_deadline=True, callback_stopped=True) == "budget"
    assert stop_reason(**base, callback_stopped=True) == "patience"
    assert stop_reason(**base) == "max_epochs"
    assert stop_reason(**{**base, "epoch": 1}) == "budget"  # the next epoch would end past the deadline
    assert stop_reason(**{**base, "epoch": 1, "deadline": None}) == ""


def test_improves_needs_a_finite_value() -> None:
    assert improves(0.5, math.nan, "max") and improves(0.5, -math.inf, "max")
    assert not improves(math.nan, 0.1, "max") and not improves(0.2, 0.1, "min")
    assert improves(0.05, 0.1, "min")


def test_the_refit_has_no_validation_split_and_only_its_training_loss_can_diverge() -> None:
    rule = Divergence.parallel(3.0, validation=False)
    assert [rule(t, math.nan) for t in (2.0, 5.0, 7.0)] == [False, False, True]
    assert Divergence.parallel(3.0, validation=False)(math.inf, math.nan)
    assert Divergence.parallel(3.0)(2.0, math.nan)  # a trial's missing validation loss stays a divergence
    path = _path(Divergence.parallel(3.0, validation=False), max_epochs=2)
    e = path.end(1, {"loss": 2.0, "accuracy": 0.4}, 0.01, 120.0)
    assert path.conclude(e) == "" and math.isnan(e.row["val_loss"]) and not e.row["diverged"]
    assert path.best_epoch == 0  # no validation metric: no best epoch either
