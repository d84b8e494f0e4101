"""Bar charts drawn server-side as SVG: the geometry here, the markup in ``includes/bar_chart.html``.

No chart library and no script: the page's CSP stays strict, the charts follow the theme's colours
(``currentColor`` and Pico's variables) and every chart has its numbers in a table beside it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    url: str
    x: float
    y: float
    width: float
    height: float
    axis_label: bool = False  # a column chart labels only some of its bars under the axis

    @property
    def center_x(self) -> float:
        return self.x + self.width / 2

    @property
    def text_y(self) -> float:
        """The baseline of a row's label and number text."""
        return self.y + self.height / 2 + 4

    @property
    def value_x(self) -> float:
        """Where a row's number starts, just past its bar."""
        return self.x + self.width + 6


@dataclass(frozen=True)
class BarChart:
    title: str
    bars: list[Bar]
    width: int
    height: int
    top: int  # the largest value, the top of the scale
    baseline: float
    horizontal: bool

    @property
    def total(self) -> int:
        return sum(bar.value for bar in self.bars)

    @property
    def label_x(self) -> float:
        """Where rows' labels end (right-aligned), left of the bars."""
        return self.baseline - 8


def column_chart(title: str, points: list[tuple[str, int, str]], *, width: int = 720, height: int = 220,
                 label_every: int = 4) -> BarChart:  # fmt: skip
    """Vertical bars (e.g. weeks), left to right; ``points`` are (label, value, url). Every
    ``label_every``-th bar is labelled under the axis; each bar's value sits on top of it."""
    top = max((value for _, value, _ in points), default=0) or 1
    baseline = height - 24.0
    slot = width / max(1, len(points))
    bars = [
        Bar(label, value, url, x=index * slot + slot * 0.1, y=baseline - value / top * (baseline - 20),
            width=slot * 0.8, height=value / top * (baseline - 20), axis_label=index % label_every == 0)
        for index, (label, value, url) in enumerate(points)
    ]  # fmt: skip
    return BarChart(title, bars, width, height, top, baseline, horizontal=False)


def row_chart(title: str, points: list[tuple[str, int, str]], *, width: int = 400, row: int = 24) -> BarChart:
    """Horizontal bars (e.g. cities), top to bottom, with room on the left for the labels."""
    top = max((value for _, value, _ in points), default=0) or 1
    label_room, number_room = 150.0, 50.0
    span = width - label_room - number_room
    bars = [
        Bar(label, value, url, x=label_room, y=index * row + 4, width=max(1.0, value / top * span), height=row - 8)
        for index, (label, value, url) in enumerate(points)
    ]
    return BarChart(title, bars, width, max(row, row * len(points)), top, label_room, horizontal=True)
