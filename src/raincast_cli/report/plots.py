"""The reports' figures, drawn with matplotlib and returned as SVG text to inline in the page.

Why matplotlib's SVG rather than plotly: a plotly page carries plotly.js (about 4.5 MB
minified) inline to open offline; matplotlib's SVG needs no script at all, and a whole
report with a map and a dozen charts stays in the hundreds of KB. Text stays text
(``svg.fonttype = "none"``: smaller, searchable, selectable), and every text that came from
input (city names) is drawn with ``parse_math=False`` so a "$" in a name is a dollar sign,
not mathtext (matplotlib escapes the text itself when it writes the SVG).

Figures are made without pyplot (no global figure registry), so drawing is safe to repeat
in one process. Each figure gets its own ``svg.hashsalt``, so the ids matplotlib generates (clip paths,
glyphs) do not collide between the figures of one page.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import matplotlib
import matplotlib.dates as mdates
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.collections import PolyCollection
from matplotlib.colors import Colormap, Normalize, TwoSlopeNorm
from matplotlib.figure import Figure

from raincast_cli.report.coastline import coastline_rings

INK = "#1f2933"
MUTED = "#6b7785"
GRID = "#e4e7eb"
LAND = "#ebe7df"
LAND_EDGE = "#b8b0a2"
SEA = "#f2f6fa"
RAIN = "#1f6fb2"
OBSERVED = "#9ec5e8"
ERROR = "#a0a7b0"
PROBABILITY_CMAP = "YlGnBu"
RAIN_MM = 1.0  # a day with more rain than this is a rain day (the model's label)
SKILL_CMAP = "RdBu"

# Any: matplotlib's stubs want literal rcParams keys, which a plain dict does not carry.
_STYLE: Any = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
    "font.size": 10,
    "axes.edgecolor": "#9aa5b1",
    "axes.labelcolor": INK,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlecolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}


def _styled(draw: Callable[..., str]) -> Callable[..., str]:
    """Runs a figure function under the reports' style (titles, ticks, fonts)."""

    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> str:
        with matplotlib.rc_context(_STYLE):
            return draw(*args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class MapPoint:
    name: str
    lat: float
    lon: float
    value: float | None  # None: drawn as an error cross


def to_svg(figure: Figure, salt: str, tight: bool = True) -> str:
    """The figure as inline SVG (no XML prolog, no fixed pixel size: it scales to its box).
    ``tight`` trims the margins, at the price of drawing the figure twice."""
    buffer = io.StringIO()
    style: Any = {**_STYLE, "svg.hashsalt": salt}
    with matplotlib.rc_context(style):
        options: dict[str, Any] = {"bbox_inches": "tight", "pad_inches": 0.08} if tight else {}
        figure.savefig(buffer, format="svg", metadata={"Date": None}, **options)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    # Width/height in pt from matplotlib; the page sizes the figure by CSS instead.
    head_end = text.index(">")
    head = re.sub(r'\s(width|height)="[^"]*"', "", text[:head_end], count=2)
    return head + ' role="img"' + text[head_end:]


def _figure(width: float, height: float) -> Figure:
    # No pyplot: a Figure of its own (no global state, nothing to close), on the Agg canvas
    # (the label placement measures text with its renderer).
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _extent(points: Sequence[MapPoint]) -> tuple[float, float, float, float]:
    """lon/lat box around the points with a margin; at least 24 x 16 degrees."""
    if not points:
        return -180.0, 180.0, -60.0, 85.0
    lons = [p.lon for p in points]
    lats = [p.lat for p in points]
    west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    pad_x = max(4.0, (east - west) * 0.12)
    pad_y = max(3.0, (north - south) * 0.12)
    west, east, south, north = west - pad_x, east + pad_x, south - pad_y, north + pad_y
    if east - west < 24:
        middle = (east + west) / 2
        west, east = middle - 12, middle + 12
    if north - south < 16:
        middle = (north + south) / 2
        south, north = middle - 8, middle + 8
    return max(west, -180.0), min(east, 180.0), max(south, -85.0), min(north, 85.0)


RASTERIZE_ABOVE = 2000  # points on a map drawn as vector markers, at most


@_styled
def city_map(
    points: Sequence[MapPoint],
    *,
    title: str | None,
    colorbar_label: str,
    cmap: str = PROBABILITY_CMAP,
    norm: Normalize | None = None,
    salt: str = "map",
) -> str:
    """The points on the shipped Natural Earth outlines (equirectangular, scaled by the
    cosine of the middle latitude), coloured by value; points without a value as grey
    crosses. Names are labelled where they do not overlap an earlier (higher-ranked) one."""
    placed = [p for p in points if _on_earth(p.lat, p.lon)]
    west, east, south, north = _extent(placed)
    width = 7.4
    middle_lat = math.radians((south + north) / 2)
    aspect = 1.0 / max(0.2, math.cos(middle_lat))
    height = min(7.5, max(3.2, width * 0.86 * (north - south) * aspect / (east - west)))
    figure = _figure(width, height)
    ax = figure.add_axes((0.02, 0.02, 0.8, 0.9))
    ax.set_facecolor(SEA)
    rings = [r for r in coastline_rings() if _overlaps(r, west, east, south, north)]
    ax.add_collection(
        PolyCollection(rings, facecolors=LAND, edgecolors=LAND_EDGE, linewidths=0.6, zorder=1)
    )
    ax.set_xlim(west, east)
    ax.set_ylim(south, north)
    ax.set_aspect(aspect)
    if title:
        ax.set_title(title, loc="left", parse_math=False)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(True)
        ax.spines[side].set_color("#c8ced6")
    ax.tick_params(labelsize=8, length=2)
    ax.xaxis.set_major_formatter(lambda v, _: f"{abs(v):.0f}°{'E' if v >= 0 else 'W'}")
    ax.yaxis.set_major_formatter(lambda v, _: f"{abs(v):.0f}°{'N' if v >= 0 else 'S'}")

    valued = [p for p in placed if p.value is not None]
    failed = [p for p in placed if p.value is None]
    colormap: Colormap = matplotlib.colormaps[cmap]
    norm = norm or Normalize(0.0, 1.0)
    # Past a few thousand points the markers are one embedded image instead of an SVG
    # element each: 10,000 circles made the page slow to open and took a second to write.
    rasterized = len(placed) > RASTERIZE_ABOVE
    if failed:
        ax.scatter([p.lon for p in failed], [p.lat for p in failed], marker="x", s=28,
                   color=ERROR, linewidths=1.2, zorder=3, label="no forecast",
                   rasterized=rasterized)  # fmt: skip
    if valued:
        ax.scatter(
            [p.lon for p in valued], [p.lat for p in valued],
            c=np.array([p.value for p in valued], dtype=float), cmap=colormap, norm=norm, s=70,
            edgecolors=INK, linewidths=0.7, zorder=4, rasterized=rasterized,
        )  # fmt: skip
    mappable = ScalarMappable(norm=norm, cmap=colormap)
    bar_axes = figure.add_axes((0.86, 0.12, 0.025, 0.7))
    bar = figure.colorbar(mappable, cax=bar_axes)
    bar.set_label(colorbar_label, color=INK)
    bar.outline.set_visible(False)
    bar_axes.tick_params(labelsize=8)
    if failed:
        ax.legend(loc="lower left", fontsize=8, frameon=True, framealpha=0.9)
    _label_points(figure, ax, [*valued, *failed])
    return to_svg(figure, salt)


def _label_points(figure: Figure, ax: Any, points: Sequence[MapPoint]) -> None:
    renderer = cast(FigureCanvasAgg, figure.canvas).get_renderer()
    taken = [ax.get_window_extent(renderer)]  # the first box is the frame: labels stay in
    frame = taken[0]
    for point in points[:80]:
        label = ax.annotate(
            point.name, (point.lon, point.lat), xytext=(5, 3), textcoords="offset points",
            fontsize=7.5, color=INK, zorder=5, parse_math=False,
        )  # fmt: skip
        box = label.get_window_extent(renderer).expanded(1.05, 1.15)
        inside = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
        if not inside or any(box.overlaps(other) for other in taken[1:]):
            label.remove()
        else:
            taken.append(box)


def _on_earth(lat: float, lon: float) -> bool:
    return math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180


def _overlaps(ring: np.ndarray, west: float, east: float, south: float, north: float) -> bool:
    return bool(
        ring[:, 0].max() >= west
        and ring[:, 0].min() <= east
        and ring[:, 1].max() >= south
        and ring[:, 1].min() <= north
    )


def skill_norm(values: Sequence[float]) -> Normalize:
    """A diverging scale centred on zero skill, symmetric enough to read both sides."""
    finite = [v for v in values if math.isfinite(v)]
    top = max([0.1, *finite])
    bottom = min([-0.1, *finite])
    return TwoSlopeNorm(vcenter=0.0, vmin=min(bottom, -top / 2), vmax=max(top, -bottom / 2))


@_styled
def reliability_diagram(table: Sequence[dict], salt: str = "reliability") -> str:
    """Observed rain frequency against the mean forecast per probability bin (marker area by
    count), over the histogram of forecasts."""
    figure = _figure(4.6, 4.9)
    grid = figure.add_gridspec(2, 1, height_ratios=(3.2, 1), hspace=0.08)
    ax = figure.add_subplot(grid[0])
    hist = figure.add_subplot(grid[1], sharex=ax)
    filled = [row for row in table if row["n"]]
    ax.plot(
        [0, 1], [0, 1], color="#9aa5b1", linestyle="--", linewidth=1, label="perfectly reliable"
    )
    if filled:
        counts = np.array([row["n"] for row in filled], dtype=float)
        sizes = 20 + 180 * counts / counts.max()
        xs = [row["mean_forecast"] for row in filled]
        ys = [row["observed_rate"] for row in filled]
        ax.plot(xs, ys, color=RAIN, linewidth=1.6, zorder=2)
        ax.scatter(xs, ys, s=sizes, color=RAIN, edgecolors="white", linewidths=1, zorder=3,
                   label="forecasts, binned")  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("observed frequency of rain")
    ax.set_title("Reliability", loc="left")
    ax.grid(color=GRID, linewidth=0.8)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.tick_params(labelbottom=False)
    lefts = [row["lower"] for row in table]
    widths = [row["upper"] - row["lower"] for row in table]
    hist.bar(lefts, [row["n"] for row in table], width=widths, align="edge",
             color=OBSERVED, edgecolor="white")  # fmt: skip
    hist.set_xlabel("forecast probability of rain")
    hist.set_ylabel("forecasts")
    hist.grid(axis="y", color=GRID, linewidth=0.8)
    return to_svg(figure, salt)


@_styled
def roc_plot(fpr: np.ndarray, tpr: np.ndarray, auc: float | None, salt: str = "roc") -> str:
    figure = _figure(4.6, 4.9)
    ax = figure.add_subplot()
    ax.plot([0, 1], [0, 1], color="#9aa5b1", linestyle="--", linewidth=1, label="no skill")
    label = f"forecasts (AUC {auc:.3f})" if auc is not None else "forecasts"
    ax.plot(fpr, tpr, color=RAIN, linewidth=2, label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false alarm rate (dry days forecast wet)")
    ax.set_ylabel("hit rate (rain days forecast wet)")
    ax.set_title("ROC curve", loc="left")
    ax.grid(color=GRID, linewidth=0.8)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return to_svg(figure, salt)


@_styled
def time_series(
    dates: Sequence[dt.date],
    probabilities: Sequence[float | None],
    rainfall_mm: Sequence[float | None],
    *,
    title: str,
    salt: str,
) -> str:
    """The forecast probability for each day (the day the forecast is for) against the rain
    that fell that day: bars of rainfall, darker on days above 1 mm."""
    figure = _figure(8.6, 3.3)
    ax = figure.add_subplot()
    rain_ax = ax.twinx()
    ax.set_zorder(rain_ax.get_zorder() + 1)
    ax.patch.set_visible(False)
    mm = np.array([np.nan if v is None else v for v in rainfall_mm], dtype=float)
    known = np.nan_to_num(mm)
    wet = known > RAIN_MM
    # Bars as two stair outlines (wet days, dry days): two SVG paths, not one per day.
    centres = mdates.date2num(list(dates))
    # Up to about three months a bar per day with gaps; beyond, a day is a pixel or two wide,
    # so the bars touch (half the points: the page stays small for a year's backtest).
    gaps = len(centres) <= 92
    if gaps:
        edges = np.column_stack([centres - 0.4, centres + 0.4]).ravel()
    else:
        edges = np.r_[centres - 0.5, centres[-1] + 0.5] if len(centres) else np.zeros(1)
    for which, colour in ((wet, RAIN), (~wet, OBSERVED)):
        heights = np.where(which, known, 0.0)
        if gaps:
            heights = np.column_stack([heights, np.zeros(len(known))]).ravel()[:-1]
        if heights.any():
            rain_ax.stairs(heights, edges, fill=True, color=colour, alpha=0.75, linewidth=0)
    rain_ax.set_ylabel("rainfall (mm)", color=MUTED)
    top = np.nanmax(mm) if np.isfinite(mm).any() else 0.0
    rain_ax.set_ylim(0, max(10.0, float(top) * 1.15))
    rain_ax.spines["right"].set_visible(True)
    p = np.array([np.nan if v is None else v for v in probabilities], dtype=float)
    # Markers only while a day is wide enough to see one (about three months).
    marker = "o" if len(p) <= 92 else None
    ax.plot(centres, p, color=INK, linewidth=1.6 if marker else 1.0, marker=marker, markersize=3.2)
    ax.axhline(0.5, color="#9aa5b1", linestyle=":", linewidth=1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("forecast P(rain)")
    ax.set_title(title, loc="left", parse_math=False)
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    locator = mdates.AutoDateLocator(minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    # Fixed margins instead of a tight box: a page has one of these per city, and the tight
    # box draws every figure twice.
    figure.subplots_adjust(left=0.075, right=0.925, top=0.88, bottom=0.15)
    return to_svg(figure, salt, tight=False)
