"""The report's charts, as PNG images (matplotlib, drawn off-screen).

A chart shows only what its table shows: a suppressed count is left out of its bar, and the bar is
marked with a dagger that the caption explains. Colours are the Okabe-Ito palette (told apart with
colour-blind vision); every chart has its table beside it and a one-line alternative text.
Figures are made without pyplot (whose figure list is one per process), so the portal's threads
draw charts side by side.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pipeline.reports.tables import Table

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
DAGGER = "\u2020"
WIDTH_INCHES = 6.3
DPI = 150


def chart_png(table: Table) -> bytes | None:
    """The table's chart, or ``None`` when it has none or nothing to draw."""
    if table.chart is None or not table.rows:
        return None
    if table.id.startswith("days-to-"):
        figure = _medians(table)
    elif table.chart == "stacked" and len(table.columns) > 1:
        figure = _stacked(table)
    else:
        figure = _bars(table)
    if figure is None:
        return None
    out = io.BytesIO()
    FigureCanvasAgg(figure).print_png(out, metadata={"Software": None})
    return out.getvalue()


def _figure(rows: int) -> tuple[Figure, object]:
    height = min(6.0, max(1.8, 0.28 * rows + 0.9))
    figure = Figure(figsize=(WIDTH_INCHES, height), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(labelsize=7)
    return figure, axes


def _bars(table: Table) -> Figure | None:
    label = table.columns[0] if table.columns[0] != "Count" else table.total_label
    return _one_bar_each(table, [row[0] for row in table.cells], PALETTE[0], label)


def _one_bar_each(table: Table, cells: list, colour: str, label: str) -> Figure | None:
    if not any(c.value for c in cells):
        return None
    figure, axes = _figure(len(cells))
    positions = range(len(cells))
    axes.barh(positions, [c.value or 0 for c in cells], color=colour)
    _mark(axes, [(i, 0) for i, c in enumerate(cells) if c.suppressed])
    axes.set_yticks(list(positions), [_short(r) for r in table.rows])
    axes.invert_yaxis()
    axes.set_xlabel(label, fontsize=7)
    return figure


def _stacked(table: Table) -> Figure | None:
    if not any(c.value for row in table.cells for c in row):
        return None
    figure, axes = _figure(len(table.rows))
    positions = list(range(len(table.rows)))
    if table.row_totals and any(c.suppressed for row in table.cells for c in row):
        # a row's shown total behind its parts: what is suppressed in it shows as the grey rest
        axes.barh(positions, [c.value or 0 for c in table.row_totals], color="#D9D9D9", label="Suppressed part")
    left = [0.0] * len(table.rows)
    for number, column in enumerate(table.columns):
        values = [row[number].value or 0 for row in table.cells]
        if any(values):
            axes.barh(positions, values, left=left, color=PALETTE[number % len(PALETTE)], label=_short(column))
        left = [a + b for a, b in zip(left, values)]
    ends = [max(left[i], (table.row_totals[i].value or 0) if table.row_totals else 0) for i in positions]
    _mark(axes, [(i, ends[i]) for i, row in enumerate(table.cells) if any(c.suppressed for c in row)])
    axes.set_yticks(positions, [_short(r) for r in table.rows])
    axes.invert_yaxis()
    axes.legend(fontsize=6.5, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure


def _medians(table: Table) -> Figure | None:
    return _one_bar_each(table, [row[1] for row in table.cells], PALETTE[2], "Median days")


def _mark(axes, places: list[tuple[int, float]]) -> None:
    """A dagger after each bar with a suppressed count."""
    for row, end in places:
        axes.annotate(DAGGER, (end, row), xytext=(3, -3), textcoords="offset points", fontsize=8)


def _short(label: str, width: int = 38) -> str:
    return label if len(label) <= width else label[: width - 1] + "\u2026"
