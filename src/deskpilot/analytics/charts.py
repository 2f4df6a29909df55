"""Chart geometry for the dashboards, drawn server-side as inline SVG by the templates.

Pure functions from numbers to coordinates (no markup, no third-party code): a line chart for
time series and for the unit-square calibration charts, and a horizontal bar chart. Templates
render the shapes and always show the data table beside the chart as its accessible fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 640
HEIGHT = 240
PAD_LEFT = 48
PAD_RIGHT = 16
PAD_TOP = 12
PAD_BOTTOM = 36


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Series:
    name: str
    points: str
    """SVG polyline points: "x1,y1 x2,y2 ..."."""
    css_class: str
    dots: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class LineChart:
    id: str
    title: str
    description: str
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    series: list[Series]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    diagonal: str = ""
    """Points of the y = x reference line (calibration charts), or empty."""
    x_label: str = ""
    y_label: str = ""
    empty: bool = False


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    display: str
    y: float
    width: float


@dataclass(frozen=True)
class BarChart:
    id: str
    title: str
    description: str
    width: int
    height: int
    label_width: int
    bar_height: int
    bars: list[Bar]
    empty: bool = False


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step:
            return float(step)
    magnitude = 10 ** len(str(int(value)))
    return float(magnitude)


def _fmt(value: float) -> str:
    return f"{value:g}" if value < 1000 else f"{value:,.0f}"


def line_chart(
    chart_id: str,
    title: str,
    description: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    unit_square: bool = False,
    x_values: Sequence[float] | None = None,
    x_label: str = "",
    y_label: str = "",
) -> LineChart:
    """Lines over categorical x (evenly spaced labels) or, with `unit_square`, over x in [0, 1]
    given by `x_values`, with y in [0, 1] and a diagonal reference line."""
    left, right = float(PAD_LEFT), float(WIDTH - PAD_RIGHT)
    top, bottom = float(PAD_TOP), float(HEIGHT - PAD_BOTTOM)
    values = [v for _, ys in series for v in ys if v is not None]
    y_max = 1.0 if unit_square else _nice_max(max(values, default=0.0))
    count = len(x_labels)

    def x_at(i: int) -> float:
        if unit_square and x_values is not None:
            return left + (right - left) * float(x_values[i])
        return left + (right - left) * (i / (count - 1) if count > 1 else 0.5)

    def y_at(v: float) -> float:
        return bottom - (bottom - top) * (v / y_max)

    out: list[Series] = []
    for index, (name, ys) in enumerate(series):
        points = [(round(x_at(i), 1), round(y_at(v), 1)) for i, v in enumerate(ys) if v is not None]
        out.append(
            Series(
                name=name,
                points=" ".join(f"{x},{y}" for x, y in points),
                css_class=f"series-{index + 1}",
                dots=points if (unit_square or len(points) <= 31) else [],
            )
        )
    if unit_square:
        x_ticks = [
            Tick(round(left + (right - left) * t, 1), f"{t:g}") for t in (0, 0.25, 0.5, 0.75, 1)
        ]
    else:
        step = max(1, count // 6)
        x_ticks = [Tick(round(x_at(i), 1), x_labels[i]) for i in range(0, count, step)]
    y_ticks = [Tick(round(y_at(y_max * t), 1), _fmt(y_max * t)) for t in (0, 0.25, 0.5, 0.75, 1)]
    diagonal = f"{left},{bottom} {right},{top}" if unit_square else ""
    return LineChart(
        id=chart_id,
        title=title,
        description=description,
        width=WIDTH,
        height=HEIGHT,
        plot_left=left,
        plot_right=right,
        plot_top=top,
        plot_bottom=bottom,
        series=out,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        diagonal=diagonal,
        x_label=x_label,
        y_label=y_label,
        empty=not values,
    )


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    items: Sequence[tuple[str, float]],
    *,
    limit: int = 12,
    percent: bool = False,
) -> BarChart:
    """Horizontal bars, longest first as given, at most `limit`."""
    shown = list(items)[:limit]
    bar_height, gap, label_width = 22, 6, 180
    top = max((v for _, v in shown), default=0.0)
    span = WIDTH - label_width - 70
    bars = [
        Bar(
            label=label,
            value=value,
            display=f"{value:.0%}" if percent else _fmt(value),
            y=float(i * (bar_height + gap)),
            width=round(span * value / top, 1) if top > 0 else 0.0,
        )
        for i, (label, value) in enumerate(shown)
    ]
    return BarChart(
        id=chart_id,
        title=title,
        description=description,
        width=WIDTH,
        height=max(1, len(bars)) * (bar_height + gap),
        label_width=label_width,
        bar_height=bar_height,
        bars=bars,
        empty=top <= 0,
    )
