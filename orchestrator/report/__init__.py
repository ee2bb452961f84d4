"""``sweep report``: one self-contained HTML page about a run directory.

The page has no external resources and no JavaScript: CSS is inline and every figure is a
base64 PNG ``<img>``. Sections (ids in :data:`SECTIONS`): a summary, the selected trial and its
test score, the Pareto front (with several objectives or constraints), the compute spent (and
saved by early stopping), learning curves of the top trials and of stopped ones, best-so-far over
time, which hyperparameters mattered (importance per objective), one "Goldilocks" plot per
searched hyperparameter (the most important first), a parallel-coordinates plot, and a table of
every trial with its status, stop reason and diagnosis.

The package imports neither Ray nor TensorFlow; matplotlib is imported inside the functions that
draw (:mod:`.figures`: its object-oriented API with the Agg canvas, never pyplot, so no global
figure is left open and an interactive backend in a notebook is left alone). Every value from the
data is passed through :func:`html.escape`.

Its modules, in the order the page is built: :mod:`.context` (what every section needs, computed
once), :mod:`.analysis` (the pure judgements: which hyperparameters to plot, Goldilocks regions),
:mod:`.page` (HTML building blocks), :mod:`.figures` (matplotlib helpers, shared with
``sweep compare``), and the sections: :mod:`.sections`, :mod:`.front`, :mod:`.curves`,
:mod:`.importance`, :mod:`.goldilocks`, :mod:`.parallel`.

The number of figures is bounded whatever the size of the run (the limits are in :mod:`.context`):
``TOP_CURVES`` and ``STOPPED_CURVES`` panels, at most ``OVERVIEW_MAX_LINES`` curves in the overview,
at most ``MAX_PARAM_PLOTS`` Goldilocks plots, scatter plots thinned to ``SCATTER_MAX`` points (the
best trials always kept).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..results import Run, load
from .analysis import goldilocks_regions, param_kinds
from .context import Context
from .curves import curves_section
from .front import front_section
from .goldilocks import goldilocks_section
from .importance import importance_section
from .page import CSS, SECTIONS, escaped
from .parallel import parallel_section
from .sections import best_so_far_section, compute_section, selected_section, summary_section, trials_section

__all__ = ["SECTIONS", "render_report", "write_report", "goldilocks_regions", "param_kinds"]


def write_report(run: Run | str | Path, out: Any = None) -> Path:
    """Render the report of ``run`` (a :class:`Run` or a run directory) and write it.

    Args:
        run: a loaded run or the path or URI of a run directory.
        out: the HTML file to write (default ``<run_dir>/report.html``), a path or a URI; not one
            of the run directory's own files.

    Returns:
        The path written (written to a temporary name and renamed, like the run's tables), or
        the :class:`~orchestrator.storage.Location` for a URI.

    Raises:
        UsageError: ``out`` is one of the run directory's own files (``--out``), before anything is drawn.
    """
    from ..options import check_not_run_file
    from ..storage import Location, is_uri, resolve

    if not isinstance(run, Run):
        run = load(run)
    if out is not None:  # never over the run's tables, run.json, model/ (its report.html is the default)
        check_not_run_file(out, run.path, allowed=("report.html",))
    if out is None and isinstance(run.path, Location):
        out = run.path / "report.html"
    if isinstance(out, Location) or (out is not None and is_uri(str(out))):
        target = out if isinstance(out, Location) else resolve(str(out), check=False)
        target.write_bytes(render_report(run).encode("utf-8"))  # whole (one PUT, or a rename)
        return target  # type: ignore[return-value]
    path = Path(out) if out is not None else Path(run.path) / "report.html"
    page = render_report(run)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def render_report(run: Run) -> str:
    """The report of ``run`` as one HTML string."""
    ctx = Context.of(run)
    started = time.perf_counter()
    body = [
        summary_section(ctx),
        selected_section(ctx),
        front_section(ctx),
        compute_section(ctx),
        curves_section(ctx),
        best_so_far_section(ctx),
        importance_section(ctx),
        goldilocks_section(ctx),
        parallel_section(ctx),
        trials_section(ctx),
    ]
    title = f"sweep report · {ctx.info.get('run_id') or getattr(run.path, 'name', None) or Path(run.path).name}"
    nav = " · ".join(f'<a href="#{sid}">{escaped(name)}</a>' for sid, name in SECTIONS)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{escaped(title)}</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{escaped(title)}</h1><nav>{nav}</nav></header>\n<main>\n"
        + "\n".join(body)
        + f"\n</main>\n<footer>generated by <code>sweep report</code> at {escaped(generated)} "
        f"in {time.perf_counter() - started:.1f} s</footer>\n</body>\n</html>\n"
    )
