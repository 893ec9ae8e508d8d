"""Schedule expressions: rate and 6-field AWS cron, next fire times."""

from datetime import UTC, datetime

import pytest
from sfnstack.serve.schedule import CronSchedule, RateSchedule, ScheduleError, parse_schedule

SAT_28_NOV_2026 = datetime(2026, 11, 28, 4, 14, 31, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("rate(2 seconds)", 2),  # local extension
    ],
)
def test_rate_periods(expression: str, seconds: int) -> None:
    schedule = parse_schedule(expression)
    assert isinstance(schedule, RateSchedule)
    assert schedule.seconds == seconds


def test_rate_fires_on_the_anchor_grid() -> None:
    schedule = parse_schedule("rate(5 minutes)")
    anchor = utc(2026, 11, 28, 4, 0)
    assert schedule.next_after(anchor, anchor) == utc(2026, 11, 28, 4, 5)
    assert schedule.next_after(utc(2026, 11, 28, 4, 7, 30), anchor) == utc(2026, 11, 28, 4, 10)
    assert schedule.next_after(utc(2026, 11, 28, 4, 10), anchor) == utc(2026, 11, 28, 4, 15)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # every day at noon
        ("cron(0 12 * * ? *)", SAT_28_NOV_2026, utc(2026, 11, 28, 12, 0)),
        ("cron(0 12 * * ? *)", utc(2026, 11, 28, 12, 0), utc(2026, 11, 29, 12, 0)),
        # weekdays at 08:00: Saturday -> Monday
        ("cron(0 8 ? * MON-FRI *)", SAT_28_NOV_2026, utc(2026, 11, 30, 8, 0)),
        ("cron(0 8 ? * 2-6 *)", SAT_28_NOV_2026, utc(2026, 11, 30, 8, 0)),
        # every 15 minutes
        ("cron(0/15 * * * ? *)", SAT_28_NOV_2026, utc(2026, 11, 28, 4, 15)),
        ("cron(*/15 * * * ? *)", utc(2026, 11, 28, 4, 59), utc(2026, 11, 28, 5, 0)),
        # lists and ranges
        ("cron(5,35 1-2 * * ? *)", SAT_28_NOV_2026, utc(2026, 11, 29, 1, 5)),
        # last day of the month
        ("cron(0 0 L * ? *)", SAT_28_NOV_2026, utc(2026, 11, 30, 0, 0)),
        ("cron(0 0 L-1 * ? *)", SAT_28_NOV_2026, utc(2026, 11, 29, 0, 0)),
        # last Friday of the month (27 Nov 2026 is a Friday, already gone)
        ("cron(15 10 ? * 6L 2026-2027)", SAT_28_NOV_2026, utc(2026, 12, 25, 10, 15)),
        # first Monday of the month: 1 Dec 2026 is a Tuesday
        ("cron(0 10 ? * 2#1 *)", SAT_28_NOV_2026, utc(2026, 12, 7, 10, 0)),
        # nearest weekday to the 15th: 15 Nov 2026 is a Sunday -> Monday 16th
        ("cron(0 9 15W * ? *)", utc(2026, 11, 1), utc(2026, 11, 16, 9, 0)),
        # 1 Aug 2026 is a Saturday: W does not leave the month -> Monday 3rd
        ("cron(0 9 1W * ? *)", utc(2026, 7, 2), utc(2026, 8, 3, 9, 0)),
        # last weekday of the month: 31 Jan 2027 is a Sunday -> Friday 29th
        ("cron(0 9 LW * ? *)", utc(2027, 1, 1), utc(2027, 1, 29, 9, 0)),
        # 29 February
        ("cron(0 12 29 FEB ? *)", SAT_28_NOV_2026, utc(2028, 2, 29, 12, 0)),
        # month names and a step on months
        ("cron(0 0 1 JAN/3 ? *)", SAT_28_NOV_2026, utc(2027, 1, 1, 0, 0)),
    ],
)
def test_cron_next_fire(expression: str, after: datetime, expected: datetime) -> None:
    assert parse_schedule(expression).next_after(after) == expected


def test_cron_in_a_time_zone() -> None:
    schedule = parse_schedule("cron(0 9 * * ? *)", "Australia/Sydney")
    # 09:00 AEDT (UTC+11) on 29 Nov 2026 is 22:00 UTC on the 28th
    assert schedule.next_after(SAT_28_NOV_2026) == utc(2026, 11, 28, 22, 0)


def test_cron_whose_years_are_over_never_fires() -> None:
    schedule = parse_schedule("cron(0 0 1 1 ? 2020)")
    assert isinstance(schedule, CronSchedule)
    assert schedule.next_after(SAT_28_NOV_2026) is None


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("rate(0 minutes)", "positive"),
        ("rate(5 weeks)", "rate unit"),
        ("every day", "expected rate"),
        ("cron(0 12 * * *)", "6 fields"),
        ("cron(0 12 * * MON *)", "exactly one"),
        ("cron(0 12 ? * ? *)", "exactly one"),
        ("cron(60 12 * * ? *)", "outside 0-59"),
        ("cron(0 24 * * ? *)", "outside 0-23"),
        ("cron(0 12 * 13 ? *)", "outside 1-12"),
        ("cron(0 12 ? * 2#6 *)", "# takes 1-5"),
        ("cron(0 12 ? * FUNDAY *)", "not a number"),
        ("cron(0/0 12 * * ? *)", "bad step"),
    ],
)
def test_bad_expressions_are_refused_with_the_reason(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(expression)


def test_unknown_time_zone() -> None:
    with pytest.raises(ScheduleError, match="ScheduleExpressionTimezone"):
        parse_schedule("cron(0 9 * * ? *)", "Mars/Olympus")
