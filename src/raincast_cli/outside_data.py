"""The out-of-domain check data sets: real observations from outside Australia that an
installed package ships, never used for training. ``raincast train`` scores the holdout and
shipped models on each (the model card's "Outside Australia"), and so does
``benchmarks/model_bench.py``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from raincast.weather.weatheraus import ObservationTable


@dataclass(frozen=True)
class OutsideDataSet:
    key: str  # metadata key
    title: str
    inputs: str  # what the records have, for the card
    latitude: float
    read: Callable[[], ObservationTable]
    missing: type[Exception]  # raised by ``read`` when the package is not installed


def data_sets() -> tuple[OutsideDataSet, ...]:
    from raincast_cli import new_york, seattle

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
    )
