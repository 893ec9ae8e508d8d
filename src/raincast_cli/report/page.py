"""The reports as one self-contained HTML page each: Jinja2 templates (autoescaped, so every
city name, reason and provider that came from input is HTML-escaped) around matplotlib's
inline SVG figures. No external resource of any kind: no script, style sheet, font or image
is loaded from anywhere, so the page opens offline and makes no network request.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections import Counter, defaultdict
from typing import Any

import jinja2
import matplotlib
import numpy as np
from markupsafe import Markup, escape

from raincast.pipeline.records import reason_category
from raincast_cli.backtest import BacktestRow
from raincast_cli.model_headline import ModelHeadline
from raincast_cli.report import plots
from raincast_cli.report.results import RunResults
from raincast_cli.scoring import roc_curve

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("raincast_cli.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["short_id"] = lambda v: f"{v[:12]}…" if re.fullmatch(r"[0-9a-f]{32}", str(v)) else v
TIME_SERIES_LIMIT = 60  # cities with a time series in one page (the rest: in backtest.csv)


@functools.cache
def _colour_table(name: str) -> tuple[int, list[str]]:
    """A colormap's lookup table as hex colours: what ``to_hex(cmap(x))`` gives for every x
    in [0, 1]. Looking each city's colour up in the registry (a fresh copy per lookup, its
    table built again) and calling it on one number cost 0.6 ms: 6 s for 10,000 cities."""
    cmap = matplotlib.colormaps[name]
    return cmap.N, [matplotlib.colors.to_hex(c) for c in cmap(np.arange(cmap.N))]


def _colour(value: float, cmap: str, norm: Any) -> str:
    low, high = norm.vmin, norm.vmax
    if type(norm) is matplotlib.colors.Normalize and not norm.clip and None not in (low, high):
        # what a linear Normalize computes, without its masked-array call (0.15 ms)
        x = (float(value) - low) / (high - low) if high != low else 0.0
    else:
        x = float(norm(value))
    size, table = _colour_table(cmap)
    if 0.0 <= x <= 1.0:  # the colormap's own indexing: x * N truncated, 1.0 the last entry
        return table[min(int(x * size), size - 1)]
    return matplotlib.colors.to_hex(matplotlib.colormaps[cmap](x))  # under, over or bad


def _generated() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _float(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


# ---- a forecast run -----------------------------------------------------------------------

# The forecast table's rows are written here, not in run.html.j2: a 10,000-city run's rows
# through the template's loop (15 pieces a row, each passed up through three generators)
# took 0.2 s of the report's 0.6 s, one format string a row takes a tenth of that.
_FORECAST_ROW = (
    '<tr><td>{city}</td><td>{place}</td><td class="num">{p:.2f}</td>\n'
    '  <td><div class="bar"><span style="width: {percent}%; background: {colour}"></span>'
    "</div></td>\n"
    '  <td><span class="badge {badge}">{rain}</span></td></tr>\n'
)


def _forecast_rows(forecasts: list[dict[str, Any]]) -> Markup:
    """The forecast table's rows (cities and places escaped; ``percent`` is an int and
    ``colour`` a hex colour from the colormap's table)."""
    row = _FORECAST_ROW.format
    return Markup(
        "".join(
            row(
                city=escape(f["city"]),
                place=escape(f["place"]),
                p=f["p"],
                percent=int(f["percent"]),
                colour=escape(f["colour"]),
                badge="yes" if f["rain"] == "yes" else "no",
                rain=escape(f["rain"] or "?"),
            )
            for f in forecasts
        )
    )


def render_run_report(results: RunResults, headline: ModelHeadline) -> str:
    summary = results.summary
    probability_norm = matplotlib.colors.Normalize(0.0, 1.0)
    forecasts: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    total = 0
    for row in results.rows():
        total += 1
        p = _float(row.get("p_rain_tomorrow"))
        entry: dict[str, Any] = {
            "city": row.get("city") or "",
            "place": ", ".join(x for x in (row.get("place"), row.get("country")) if x),
            "lat": _float(row.get("lat")),
            "lon": _float(row.get("lon")),
            "p": p,
            "rain": row.get("rain_tomorrow") or "",
            "reason": row.get("reason") or "",
        }
        if row.get("status") == "ok" and p is not None:
            entry["percent"] = round(100 * p)
            entry["colour"] = _colour(p, plots.PROBABILITY_CMAP, probability_norm)
            forecasts.append(entry)
        else:
            entry["category"] = reason_category(entry["reason"])
            errors.append(entry)
    forecasts.sort(key=lambda e: (-e["p"], e["city"]))
    by_reason = Counter(e["category"] for e in errors)
    points = [
        plots.MapPoint(e["city"], e["lat"], e["lon"], e["p"])
        for e in [*forecasts, *errors]
        if e["lat"] is not None and e["lon"] is not None
    ]
    date = summary.get("date")
    forecast_for = _next_day(date)
    map_svg = plots.city_map(
        points,
        title=None,
        colorbar_label="probability of rain (> 1 mm)",
        salt="run-map",
    )
    run_versions = results.model_versions
    return _ENV.get_template("run.html.j2").render(
        title=f"raincast forecast: {summary.get('run_id') or results.location}",
        summary=summary,
        location=results.location,
        date=date,
        forecast_for=forecast_for,
        total=total,
        forecasts=forecasts,
        forecast_rows=_forecast_rows(forecasts),
        errors=errors,
        errors_by_reason=by_reason.most_common(),
        unmapped=total - len(points),
        map_svg=Markup(map_svg),
        headline=headline,
        run_versions=run_versions,
        version_differs=bool(run_versions) and headline.version not in run_versions,
        generated=_generated(),
    )


def _next_day(date: Any) -> str | None:
    try:
        return (dt.date.fromisoformat(str(date)) + dt.timedelta(days=1)).isoformat()
    except ValueError:
        return None


# ---- a backtest ---------------------------------------------------------------------------


def render_backtest_report(rows: list[BacktestRow], scores: dict[str, Any]) -> str:
    headline = scores["model"]
    overall = scores["overall"]
    scored = [r for r in rows if r.status == "ok"]
    labels = np.array([r.rained_tomorrow == "yes" for r in scored], dtype=bool)
    probabilities = np.array([r.p_rain_tomorrow for r in scored], dtype=np.float64)
    reliability_svg = plots.reliability_diagram(overall["reliability"])
    roc_svg = None
    if 0 < labels.sum() < len(labels):
        fpr, tpr = roc_curve(labels, probabilities)
        roc_svg = plots.roc_plot(fpr, tpr, overall["auc"])

    # Per city: where it is (the first coordinates seen), its scores, its stations.
    located: dict[str, tuple[float, float]] = {}
    for row in rows:
        if row.city not in located and row.lat is not None and row.lon is not None:
            located[row.city] = (row.lat, row.lon)
    per_city = scores["per_city"]
    skills = [s["brier_skill"] for s in per_city.values() if s["brier_skill"] is not None]
    norm = plots.skill_norm(skills)
    cities: list[dict[str, Any]] = []
    for name, s in per_city.items():
        skill = s["brier_skill"]
        entry: dict[str, Any] = {"name": name, **s}
        if skill is not None:
            entry["colour"] = _colour(skill, plots.SKILL_CMAP, norm)
            # Bars grow from the middle: right for skill, left for worse than climatology.
            half = (norm.vmax if skill >= 0 else -(norm.vmin or 0.0)) or 1.0
            width = round(min(50.0, 50.0 * abs(skill) / half), 1)
            entry["bar_width"] = width
            entry["bar_left"] = 50.0 if skill >= 0 else 50.0 - width
        cities.append(entry)
    cities.sort(key=lambda e: (e["brier_skill"] is None, -(e["brier_skill"] or 0), e["name"]))
    points = [
        plots.MapPoint(c["name"], *located[c["name"]], c["brier_skill"])
        for c in cities
        if c["name"] in located
    ]
    map_svg = plots.city_map(
        points,
        title=None,
        colorbar_label="Brier skill score",
        cmap=plots.SKILL_CMAP,
        norm=norm,
        salt="skill-map",
    )

    series: dict[str, list[BacktestRow]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for row in rows:
        # One point per city and day (a city listed twice has the same forecast twice).
        if row.status in ("ok", "unscored") and (row.city, row.date) not in seen:
            seen.add((row.city, row.date))
            series[row.city].append(row)
    charts = []
    for number, city in enumerate(c["name"] for c in cities if c["name"] in series):
        if number >= TIME_SERIES_LIMIT:
            break
        city_rows = series[city]
        charts.append(
            {
                "id": f"series-{number}",
                "city": city,
                "svg": Markup(
                    plots.time_series(
                        [dt.date.fromisoformat(r.date) + dt.timedelta(days=1) for r in city_rows],
                        [r.p_rain_tomorrow for r in city_rows],
                        [r.rainfall_tomorrow_mm for r in city_rows],
                        title=f"{city}: forecast P(rain) and the rain that fell",
                        salt=f"series-{number}",
                    )
                ),
            }
        )
    not_scored = [r for r in rows if r.status != "ok"]
    return _ENV.get_template("backtest.html.j2").render(
        title=f"raincast backtest {scores['from']} to {scores['to']}",
        scores=scores,
        overall=overall,
        headline=headline,
        reliability_svg=Markup(reliability_svg),
        roc_svg=Markup(roc_svg) if roc_svg else None,
        map_svg=Markup(map_svg),
        cities=cities,
        charts=charts,
        series_left_out=max(0, len(series) - TIME_SERIES_LIMIT),
        not_scored=not_scored[:200],
        not_scored_total=len(not_scored),
        generated=_generated(),
    )
