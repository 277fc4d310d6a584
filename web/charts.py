"""Charts drawn on the server as SVG: no script to load or vendor, nothing for the Content-Security-
Policy to allow, the page's own language in every label, and a drawing that scales to any width
(a 375 px phone included) through its viewBox. A chart always has the table of its figures beside
it on the page, for screen readers and for exact numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 30  # margins for the axes' labels
AXIS_FONT, LEGEND_FONT = 15, 17  # in viewBox units: about 8 and 9 px on a 375 px phone
COLOURS = ("#1565c0", "#2e7d32", "#ef8f00", "#8e24aa")  # distinguishable, and by their dash too
DASHES = ("", "6 3", "2 3", "8 3 2 3")


@dataclass(frozen=True)
class Line:
    """One series; a value of None is a period without a figure (a gap in the line)."""

    name: str
    values: Sequence[float | None]


def nice_top(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (the y axis' top)."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if top * step >= value:
                return top * step
        top *= 10


def _grouped(value: int) -> str:
    return f"{value:,}"


def line_chart(title: str, labels: Sequence[str], lines: Sequence[Line], *, top: int | None = None) -> Markup:
    """A line chart of `lines` over `labels` (periods), with a legend; an SVG element to put in a page.
    `top`: the y axis' top (e.g. 100 for percentages); by default the next round number above the values."""
    count = len(labels)
    if top is None:
        top = nice_top(max([1, *(max((v for v in line.values if v is not None), default=0) for line in lines)]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (count - 1) if count > 1 else plot_w / 2)

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * max(value, 0) / top

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 24 * len(lines)}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for step in range(5):  # horizontal grid lines with the y axis' values
        value = top * step // 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 4}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="{AXIS_FONT}">'
            f"{_grouped(value)}</text>"
        )
    every = max(1, -(-count // 6))  # at most about six period labels under the x axis
    for i, label in enumerate(labels):
        if i % every == 0 or i == count - 1:
            anchor = "end" if i == count - 1 and count > 1 else "start" if i == 0 and count > 1 else "middle"
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}" font-size="{AXIS_FONT}">'
                f"{escape(label)}</text>"
            )
    for n, line in enumerate(lines):
        colour, dash = COLOURS[n % len(COLOURS)], DASHES[n % len(DASHES)]
        dashing = f' stroke-dasharray="{dash}"' if dash else ""
        for run in _runs(line.values):  # a gap (None) breaks the line; a lone point is a dot
            if len(run) == 1:
                i, v = run[0]
                parts.append(f'<circle class="series" cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>')
                continue
            points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in run)
            parts.append(
                f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="2"{dashing} points="{points}"/>'
            )
        legend_y = HEIGHT + 24 * n + 14
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + 28}" y1="{legend_y}" y2="{legend_y}" stroke="{colour}" '
            f'stroke-width="2"{dashing}/>'
            f'<text x="{LEFT + 36}" y="{legend_y + 4}" font-size="{LEGEND_FONT}">{escape(line.name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """The stretches of consecutive values that are not None, each as (index, value) pairs."""
    runs: list[list[tuple[int, float]]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((i, value))
    return [run for run in runs if run]
