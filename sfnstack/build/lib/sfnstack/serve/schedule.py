"""Schedule expressions as EventBridge Scheduler reads them: ``rate(...)`` and 6-field
``cron(...)``, with a next-fire-time calculator.

AWS cron fields: ``minutes hours day-of-month month day-of-week year``, one of
day-of-month / day-of-week must be ``?``. Supported: ``* ? , - /``, ``L`` (last day of the
month; ``nL`` in day-of-week: last weekday n of the month), ``W`` (nearest weekday to a day of
month, ``LW`` last weekday), ``#`` (``d#n``: n-th weekday d of the month), month names
JAN-DEC and day names SUN-SAT (1 = SUN ... 7 = SAT).

Local extension (not accepted by AWS): ``rate(N second|seconds)``, so tests and demos need not
wait a minute.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

__all__ = ["CronSchedule", "RateSchedule", "Schedule", "ScheduleError", "parse_schedule"]


class ScheduleError(ValueError):
    """A schedule expression that AWS (or the local extension) would not accept."""


_RATE_UNITS = {
    "second": 1,
    "seconds": 1,
    "minute": 60,
    "minutes": 60,
    "hour": 3600,
    "hours": 3600,
    "day": 86400,
    "days": 86400,
}


@dataclass(frozen=True)
class RateSchedule:
    """Fires every ``seconds``, counted from ``anchor`` (the server start, or the schedule's
    StartDate): anchor + period, anchor + 2 * period, ..."""

    expression: str
    seconds: int

    def next_after(self, after: datetime, anchor: datetime) -> datetime:
        if after < anchor:
            return anchor + timedelta(seconds=self.seconds)
        periods = int((after - anchor).total_seconds() // self.seconds) + 1
        return anchor + timedelta(seconds=periods * self.seconds)


_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


def _number(token: str, names: dict[str, int], field: str, low: int, high: int) -> int:
    value = names.get(token.upper()) if names else None
    if value is None:
        if not token.isdigit():
            raise ScheduleError(f"cron {field}: {token!r} is not a number or name")
        value = int(token)
    if not low <= value <= high:
        raise ScheduleError(f"cron {field}: {value} is outside {low}-{high}")
    return value


def _parse_set(
    text: str, field: str, low: int, high: int, names: dict[str, int] | None = None
) -> frozenset[int]:
    """``*``, ``a``, ``a-b``, ``a/n``, ``a-b/n``, ``*/n`` and comma lists of them."""
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise ScheduleError(f"cron {field}: empty list item in {text!r}")
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"cron {field}: bad step {step_text!r}")
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start = _number(a, names or {}, field, low, high)
            end = _number(b, names or {}, field, low, high)
            if end < start:  # wrap-around ranges like FRI-MON or NOV-FEB
                values.update(range(start, high + 1, step))
                values.update(range(low, end + 1, step))
                continue
        else:
            start = _number(part, names or {}, field, low, high)
            end = high if step != 1 else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class _DayOfMonth:
    days: frozenset[int] = frozenset()
    last: bool = False  # L
    last_offset: int = 0  # L-n
    nearest_weekday: int | None = None  # nW
    last_weekday: bool = False  # LW

    def matches(self, day: date) -> bool:
        last_day = calendar.monthrange(day.year, day.month)[1]
        if self.last_weekday:
            return day == _nearest_weekday(day.replace(day=last_day))
        if self.last:
            return day.day == last_day - self.last_offset
        if self.nearest_weekday is not None:
            target = day.replace(day=min(self.nearest_weekday, last_day))
            return day == _nearest_weekday(target)
        return day.day in self.days


def _nearest_weekday(day: date) -> date:
    """The weekday nearest ``day`` without leaving its month (AWS/Quartz ``W``)."""
    weekday = day.weekday()  # Monday = 0
    if weekday < 5:
        return day
    last_day = calendar.monthrange(day.year, day.month)[1]
    if weekday == 5:  # Saturday -> Friday, or Monday if Friday is in the previous month
        return day - timedelta(days=1) if day.day > 1 else day + timedelta(days=2)
    # Sunday -> Monday, or Friday if Monday is in the next month
    return day + timedelta(days=1) if day.day < last_day else day - timedelta(days=2)


@dataclass(frozen=True)
class _DayOfWeek:
    days: frozenset[int] = frozenset()  # 1 = SUN ... 7 = SAT
    last_of: int | None = None  # nL
    nth: tuple[int, int] | None = None  # d#n

    def matches(self, day: date) -> bool:
        aws_weekday = (day.weekday() + 1) % 7 + 1  # Monday (0) -> 2, Sunday (6) -> 1
        if self.last_of is not None:
            last_day = calendar.monthrange(day.year, day.month)[1]
            return aws_weekday == self.last_of and day.day + 7 > last_day
        if self.nth is not None:
            weekday, n = self.nth
            return aws_weekday == weekday and (day.day - 1) // 7 + 1 == n
        return aws_weekday in self.days


def _parse_day_of_month(text: str) -> _DayOfMonth | None:
    if text == "?":
        return None
    upper = text.upper()
    if upper == "LW":
        return _DayOfMonth(last_weekday=True)
    if upper == "L":
        return _DayOfMonth(last=True)
    match = re.fullmatch(r"L-(\d+)", upper)
    if match:
        offset = int(match.group(1))
        if offset > 30:
            raise ScheduleError(f"cron day-of-month: bad offset in {text!r}")
        return _DayOfMonth(last=True, last_offset=offset)
    match = re.fullmatch(r"(\d+)W", upper)
    if match:
        return _DayOfMonth(nearest_weekday=_number(match.group(1), {}, "day-of-month", 1, 31))
    return _DayOfMonth(days=_parse_set(text, "day-of-month", 1, 31))


def _parse_day_of_week(text: str) -> _DayOfWeek | None:
    if text == "?":
        return None
    upper = text.upper()
    if upper == "L":
        return _DayOfWeek(days=frozenset({7}))
    match = re.fullmatch(r"(\w+)L", upper)
    if match:
        return _DayOfWeek(last_of=_number(match.group(1), _DAYS, "day-of-week", 1, 7))
    match = re.fullmatch(r"(\w+)#(\d)", upper)
    if match:
        weekday = _number(match.group(1), _DAYS, "day-of-week", 1, 7)
        n = int(match.group(2))
        if not 1 <= n <= 5:
            raise ScheduleError(f"cron day-of-week: {text!r}: # takes 1-5")
        return _DayOfWeek(nth=(weekday, n))
    return _DayOfWeek(days=_parse_set(text, "day-of-week", 1, 7, _DAYS))


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    day_of_month: _DayOfMonth | None
    months: frozenset[int]
    day_of_week: _DayOfWeek | None
    years: frozenset[int]
    tz: timezone | ZoneInfo

    def _day_matches(self, day: date) -> bool:
        if day.year not in self.years or day.month not in self.months:
            return False
        if self.day_of_month is not None:
            return self.day_of_month.matches(day)
        assert self.day_of_week is not None
        return self.day_of_week.matches(day)

    def next_after(self, after: datetime, anchor: datetime | None = None) -> datetime | None:
        """The first fire time strictly after ``after`` (aware datetime), in UTC; None when
        the expression never fires again (its years are over)."""
        local = after.astimezone(self.tz)
        start = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.date()
        last_year = max(self.years)
        while day.year <= last_year:
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = datetime(
                            day.year, day.month, day.day, hour, minute, tzinfo=self.tz
                        )
                        if candidate >= start:
                            return candidate.astimezone(UTC)
            day += timedelta(days=1)
            start = datetime(day.year, day.month, day.day, tzinfo=self.tz)
        return None


Schedule = RateSchedule | CronSchedule


def parse_schedule(expression: str, timezone_name: str | None = None) -> Schedule:
    """Parse ``rate(...)`` or ``cron(...)``; raises ScheduleError with the reason."""
    text = expression.strip()
    match = re.fullmatch(r"rate\(\s*(\d+)\s+([a-zA-Z]+)\s*\)", text)
    if match:
        value, unit = int(match.group(1)), match.group(2).lower()
        if unit not in _RATE_UNITS:
            raise ScheduleError(
                f"{expression!r}: rate unit must be minute(s), hour(s) or day(s) "
                "(or second(s), a local extension)"
            )
        if value <= 0:
            raise ScheduleError(f"{expression!r}: rate value must be positive")
        return RateSchedule(text, value * _RATE_UNITS[unit])
    match = re.fullmatch(r"cron\((.*)\)", text)
    if not match:
        raise ScheduleError(f"{expression!r}: expected rate(N unit) or cron(6 fields)")
    fields = match.group(1).split()
    if len(fields) != 6:
        raise ScheduleError(
            f"{expression!r}: cron takes 6 fields (minutes hours day-of-month month "
            f"day-of-week year), got {len(fields)}"
        )
    minute_text, hour_text, dom_text, month_text, dow_text, year_text = fields
    if (dom_text == "?") == (dow_text == "?"):
        raise ScheduleError(
            f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'"
        )
    try:
        tz: timezone | ZoneInfo = ZoneInfo(timezone_name) if timezone_name else UTC
    except (KeyError, ValueError) as exc:
        raise ScheduleError(f"unknown ScheduleExpressionTimezone {timezone_name!r}") from exc
    return CronSchedule(
        expression=text,
        minutes=_parse_set(minute_text, "minutes", 0, 59),
        hours=_parse_set(hour_text, "hours", 0, 23),
        day_of_month=_parse_day_of_month(dom_text),
        months=_parse_set(month_text, "month", 1, 12, _MONTHS),
        day_of_week=_parse_day_of_week(dow_text),
        years=_parse_set(year_text, "year", 1970, 2199),
        tz=tz,
    )
