"""Reporting epochs and writing checkpoints, for the parallel trainable and the babysitter.

:class:`AsyncReporter` hands each epoch's row (and checkpoint) to Ray Tune from a helper thread,
so the next epoch trains during the driver's round trip. A checkpoint is a directory holding the
model's weights (:data:`WEIGHTS_FILE`, the file ``model.save_weights`` writes) and, for a trial
that can resume, its progress (:data:`STATE_FILE`). :func:`checkpoint_saver` snapshots the
weights when called and writes them later, off the training thread; :func:`save_weights` writes
them at once. Imports TensorFlow only through the model it is given.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import tempfile
import threading
import time
from typing import Any, Callable

from ..internals import WeightsWriter

__all__ = ["WEIGHTS_FILE", "STATE_FILE", "TrialStopped", "AsyncReporter", "checkpoint_due", "checkpoint_saver",
           "save_weights", "restore_checkpoint"]

WEIGHTS_FILE = "model.weights.h5"
STATE_FILE = "state.json"


def checkpoint_due(epoch: int, max_epochs: int, every: int, *, improved: bool, diverged: bool) -> bool:
    """Whether 1-based ``epoch`` writes a checkpoint: never a diverged one; else when the metric
    improved, or every ``every`` epochs and at the last (``every`` 0: only when improved)."""
    regular = every > 0 and (epoch % every == 0 or epoch >= max_epochs)
    return (improved or regular) and not diverged


def checkpoint_saver(model: Any, progress: dict[str, Any] | None = None) -> Callable[[str], None]:
    """Snapshot ``model``'s weights now (training moves them on); the returned ``save(dir)`` writes them.

    ``save`` writes :data:`WEIGHTS_FILE` (and :data:`STATE_FILE` with ``progress``, when given)
    into ``dir``; it may run on another thread.
    """
    writer = WeightsWriter.for_model(model)
    if writer is not None:
        values = writer.snapshot()

        def write_weights(d: str) -> None:
            writer.write(os.path.join(d, WEIGHTS_FILE), values)
    else:  # Keras' own writer, now, into a temporary directory; moved into place later
        tmp = tempfile.mkdtemp(prefix="sweep-weights-")
        model.save_weights(os.path.join(tmp, WEIGHTS_FILE))

        def write_weights(d: str) -> None:
            shutil.move(os.path.join(tmp, WEIGHTS_FILE), os.path.join(d, WEIGHTS_FILE))
            shutil.rmtree(tmp, ignore_errors=True)

    def save(d: str) -> None:
        write_weights(d)
        if progress is not None:
            with open(os.path.join(d, STATE_FILE), "w", encoding="utf-8") as f:
                json.dump(progress, f)

    return save


def save_weights(model: Any, directory: str) -> None:
    """Write ``model``'s weights into ``directory`` (created if missing) now."""
    os.makedirs(directory, exist_ok=True)
    checkpoint_saver(model)(directory)


def restore_checkpoint(model: Any, directory: str) -> dict[str, Any]:
    """Load a checkpoint's weights into ``model``; returns its progress (:data:`STATE_FILE`)."""
    model.load_weights(os.path.join(directory, WEIGHTS_FILE))
    with open(os.path.join(directory, STATE_FILE), encoding="utf-8") as f:
        return dict(json.load(f))


class TrialStopped(Exception):
    """The driver ended the trial (a scheduler or stopper decision) while it trained ahead."""


class AsyncReporter:
    """Sends epoch rows (and checkpoints) to Ray Tune from a helper thread.

    ``report(row, checkpoint_dir)`` is Ray Tune's blocking report: it returns when the driver lets
    the trial go on, and raises ``SystemExit`` when the driver ends it. Here it runs on a helper
    thread, so the next epoch trains during that round trip; :meth:`submit` waits for the previous
    report first (training is at most one epoch ahead), and :attr:`stopped` tells the training
    thread the driver ended the trial.
    """

    def __init__(self, report: Callable[[dict[str, Any], str | None], None]) -> None:
        self._report = report
        self._jobs: queue.Queue = queue.Queue()
        self._idle = threading.Event()
        self._idle.set()
        self.stopped = False
        self.error: BaseException | None = None
        self.blocked_s = 0.0  # time the training thread waited for the driver
        self._thread = threading.Thread(target=self._run, name="sweep-report", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            row, save = job
            tmp = None
            try:
                if save is not None:
                    tmp = tempfile.mkdtemp(prefix="sweep-ckpt-")
                    save(tmp)
                self._report(row, tmp)
            except SystemExit:  # Ray Tune ends the trial this way
                self.stopped = True
            except BaseException as e:  # noqa: BLE001 - handed to the training thread
                self.error = e
            finally:
                if tmp is not None:
                    shutil.rmtree(tmp, ignore_errors=True)
                self._idle.set()
            if self.stopped or self.error is not None:
                return

    def wait(self) -> None:
        """Wait until the last row was taken by the driver; raise if it ended the trial or failed."""
        if not self._idle.is_set():
            t = time.perf_counter()
            self._idle.wait()
            self.blocked_s += time.perf_counter() - t
        self.check()

    def check(self) -> None:
        """Raise the reporting thread's failure, or :class:`TrialStopped` when the driver ended the trial."""
        if self.error is not None:
            raise self.error
        if self.stopped:
            raise TrialStopped()

    def submit(self, row: dict[str, Any], save: Callable[[str], None] | None = None) -> None:
        """Report one epoch (``save(dir)`` writes its checkpoint) once the previous one was taken."""
        self.wait()
        self._idle.clear()
        self._jobs.put((row, save))

    def close(self) -> None:
        """Wait for the last report, then end the helper thread."""
        try:
            self.wait()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """End the helper thread after the report in progress, if any (does not wait)."""
        self._jobs.put(None)
