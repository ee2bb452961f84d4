"""The report's Importance section: which hyperparameters mattered, a horizontal bar per
hyperparameter for each objective (:func:`orchestrator.results.importance.run_importance`, computed once
in the :class:`~orchestrator.report.context.Context`), the most important at the top.

The bars are HTML (a ``<div>`` whose width is the importance), not a picture: they stay sharp at
any zoom, cost no drawing, and the figures they show can be selected and copied.
"""

from __future__ import annotations

import html

import pandas as pd

from ..results.importance import left_out_line
from .context import Context
from .page import escaped, section_html

__all__ = ["importance_section"]


def _bars(name: str, ranked: pd.DataFrame) -> str:
    """One objective's table: rank, hyperparameter, bar, importance."""
    top = float(ranked["importance"].max()) or 1.0
    rows = []
    for _, r in ranked.iterrows():
        width = max(0.0, min(100.0, 100.0 * float(r["importance"]) / top))
        rows.append(f'<tr><td class="num">{escaped(r["rank"])}</td><td>{escaped(r["param"])}</td>'
                    f'<td class="bar"><div style="width:{width:.1f}%"></div></td>'
                    f'<td class="num">{float(r["importance"]):.3f}</td></tr>')
    return (f'<div><h3>for {html.escape(name)}</h3><table class="imp"><tr><th>#</th><th>hyperparameter</th>'
            f'<th>importance</th><th></th></tr>{"".join(rows)}</table></div>')


def importance_section(ctx: Context) -> str:
    """The Importance section (a note when the hyperparameters cannot be ranked)."""
    table, why = ctx.importance
    if table is None or table.empty:
        return section_html("importance", f'<p class="note">Not computed: {html.escape(why or "nothing to rank")}.'
                                          "</p>")
    finished = int((pd.to_numeric(ctx.trials.get("epochs", pd.Series(dtype=float)), errors="coerce") >= 1).sum())
    tables = [_bars(str(name), ranked.sort_values("rank")) for name, ranked in table.groupby("objective", sort=False)]
    inner = (f"<p>Which hyperparameters mattered, per objective: Optuna's importance evaluators (fANOVA; PED-ANOVA "
             f"for many trials; seeded, so the ranking is the same on every call) on the {finished} trials that "
             "finished at least one epoch, each objective at the trial's best epoch. The importances of an "
             "objective add up to 1 (the share of its variation across the trials a hyperparameter explains). "
             "Only hyperparameters that varied across those trials are ranked; a conditional one is ranked by "
             "PED-ANOVA (inactive trials as a regime of their own) and left out by fANOVA, which needs every "
             "trial to hold it. The Goldilocks plots below come in this order.</p>")
    note = left_out_line(table)
    if note:
        inner += f'<p class="note">{html.escape(note[0].upper() + note[1:])}.</p>'
    return section_html("importance", inner + '<div class="grid">' + "".join(tables) + "</div>")
