"""What the user's terminal shows while a sweep runs (rich), instead of Ray's logs.

Interactive terminals get a live status line (trials running / done / stopped / diverged, best so
far with its configuration, elapsed and estimated remaining time); logs and pipes get one line per
finished trial. Imports neither Ray nor TensorFlow.
"""

from __future__ import annotations

import math
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

__all__ = ["ProgressView", "format_config"]

_SHORT = {"learning_rate": "lr", "batch_size": "bs", "hidden_layers": "layers", "optimizer": "opt",
          "conv_layers": "convs", "dense_units": "dense", "weight_decay": "wd"}


def format_config(config: dict[str, Any], keys: list[str] | None = None) -> str:
    """A compact ``k=v`` rendering of the searched hyperparameters."""
    parts = []
    for k in keys if keys is not None else list(config):
        v = config.get(k)
        if v is None:
            continue
        if isinstance(v, float):
            v = f"{v:.3g}"
        parts.append(f"{_SHORT.get(k, k)}={v}")
    return " ".join(parts)


class ProgressView:
    """Progress of one run.

    Args:
        name: the sweep's name.
        total: trials the sweep will start (None when unknown).
        metric, mode: the validation metric and its direction.
        searched: names of the searched hyperparameters (shown with the best trial).
        console: where to print (a new stdout console by default).
        interactive: live display (default: when the console is a terminal).
    """

    def __init__(self, name: str, total: int | None, metric: str, mode: str, searched: list[str],
                 console: Console | None = None, interactive: bool | None = None) -> None:
        self.console = console or Console()
        self.interactive = self.console.is_terminal if interactive is None else interactive
        self.name, self.total, self.metric, self.mode = name, total, metric, mode
        self.searched = searched
        self.started = time.time()
        self.counts = {"running": 0, "completed": 0, "stopped": 0, "diverged": 0, "error": 0}
        self.best: tuple[float, str, dict[str, Any]] | None = None
        self.epochs = 0
        self._live: Live | None = None

    def start(self) -> None:
        if self.interactive:
            self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
            self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None

    def print(self, message: str) -> None:
        (self._live.console if self._live else self.console).print(message, highlight=False, soft_wrap=True)

    def set_capacity(self, per_trial: dict[str, float], total: dict[str, float]) -> None:
        """The resources each trial takes and the cluster has, for the "in use" figure."""
        self.per_trial = {"CPU": float(per_trial.get("cpu", 0.0)), "GPU": float(per_trial.get("gpu", 0.0))}
        self.capacity = {"CPU": float(total.get("CPU", 0.0)), "GPU": float(total.get("GPU", 0.0))}
        self._refresh()

    def resource_use(self) -> str:
        """E.g. ``CPU 2/2 · GPU 1/4`` for the trials running now ('' before set_capacity)."""
        per, cap = getattr(self, "per_trial", None), getattr(self, "capacity", None)
        if not per or not cap:
            return ""
        n = self.counts["running"]
        parts = [f"{k} {per[k] * n:g}/{cap[k]:g}" for k in ("CPU", "GPU") if cap[k] > 0]
        return " · ".join(parts)

    def set_running(self, n: int) -> None:
        self.counts["running"] = n
        self._refresh()

    def epoch(self, trial_id: str, value: float, config: dict[str, Any]) -> None:
        """An epoch was reported: update best-so-far."""
        self.epochs += 1
        if math.isfinite(value) and (self.best is None or (value < self.best[0] if self.mode == "min"
                                                           else value > self.best[0])):
            self.best = (value, trial_id, config)
        self._refresh()

    def trial_finished(self, trial_id: str, status: str, reason: str, epochs: int, best: float,
                       config: dict[str, Any]) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        if not self.interactive:
            done = sum(v for k, v in self.counts.items() if k != "running")
            total = f"/{self.total}" if self.total else ""
            best_all = f"{self.best[0]:.4g}" if self.best else "-"
            # the trial's best epoch (what selection reads), then the sweep's best so far, each named
            self.print(f"[{done}{total}] {trial_id} {status} ({reason}) after {epochs} epochs: "
                       f"best {self.metric}={best:.4g} (sweep's best so far {best_all}) "
                       f"{format_config(config, self.searched)}")
        self._refresh()

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Text:
        c = self.counts
        done = c["completed"] + c["stopped"] + c["diverged"] + c["error"]
        elapsed = time.time() - self.started
        eta = ""
        if self.total and done:
            eta = f" · ~{max(0.0, elapsed / done * (self.total - done)):.0f}s left"
        line = Text()
        line.append(f"{self.name} ", style="bold")
        line.append(f"{done}/{self.total or '?'} done · {c['running']} running · {c['stopped']} stopped · "
                    f"{c['diverged']} diverged · {c['error']} errors · {self.epochs} epochs · "
                    f"{elapsed:.0f}s{eta}")
        use = self.resource_use()
        if use:
            line.append(f" · in use: {use}")
        if self.best:
            line.append(f"\nbest {self.metric}={self.best[0]:.4g} ({self.best[1]}: "
                        f"{format_config(self.best[2], self.searched)})", style="green")
        return line
