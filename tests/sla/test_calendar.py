"""Business-time maths: hand-checked examples and properties across time zones, DST and holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deskpilot.sla.calendar import (
    WEEKDAYS,
    BusinessCalendar,
    NeverOpen,
    add_business_seconds,
    business_seconds_between,
    parse_schedule,
)

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
OFFICE = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
ALWAYS = {d: [["00:00", "24:00"]] for d in WEEKDAYS}
BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600

# DST changes inside the generated range, so examples land on them often.
TRANSITIONS = [
    datetime(2025, 3, 30, 1, tzinfo=UTC),  # Berlin spring forward
    datetime(2025, 10, 26, 1, tzinfo=UTC),  # Berlin fall back
    datetime(2025, 3, 9, 7, tzinfo=UTC),  # New York spring forward
    datetime(2025, 11, 2, 6, tzinfo=UTC),  # New York fall back
    datetime(2025, 4, 5, 15, tzinfo=UTC),  # Lord Howe back 30 min
    datetime(2025, 10, 4, 15, 30, tzinfo=UTC),  # Lord Howe forward 30 min
]


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def calendar(
    zone: str, schedule: dict[str, list[list[str]]], holidays: list[str] | None = None
) -> BusinessCalendar:
    if holidays is None:
        holidays = []
    return BusinessCalendar.from_config(zone, schedule, holidays)


# --- examples --------------------------------------------------------------------------------------


def test_friday_afternoon_plus_two_business_hours_is_monday_ten() -> None:
    hours = calendar("Europe/Berlin", OFFICE)
    friday = local("Europe/Berlin", 2025, 3, 7, 16, 0)
    due = add_business_seconds(friday, 2 * HOUR, hours)
    assert due.astimezone(BERLIN) == local("Europe/Berlin", 2025, 3, 10, 10, 0)
    assert business_seconds_between(friday, due, hours) == 2 * HOUR


def test_the_last_second_of_a_day_ends_on_that_day() -> None:
    hours = calendar("Europe/Berlin", OFFICE)
    friday = local("Europe/Berlin", 2025, 3, 7, 16, 0)
    assert add_business_seconds(friday, HOUR, hours).astimezone(BERLIN) == local(
        "Europe/Berlin", 2025, 3, 7, 17, 0
    )


def test_a_start_outside_hours_waits_for_the_next_opening() -> None:
    hours = calendar("America/New_York", OFFICE)
    saturday = local("America/New_York", 2025, 3, 8, 12, 0)
    due = add_business_seconds(saturday, 30 * 60, hours)
    assert due.astimezone(ZoneInfo("America/New_York")) == local(
        "America/New_York", 2025, 3, 10, 9, 30
    )


def test_office_hours_keep_their_local_time_across_the_dst_weekend() -> None:
    # Berlin springs forward on Sunday 2025-03-30: Friday 09:00 is 08:00 UTC, Monday 09:00 07:00.
    hours = calendar("Europe/Berlin", OFFICE)
    friday = local("Europe/Berlin", 2025, 3, 28, 16, 0)
    due = add_business_seconds(friday, 2 * HOUR, hours)
    assert due == datetime(2025, 3, 31, 8, 0, tzinfo=UTC)  # Monday 10:00 CEST
    assert business_seconds_between(friday, due, hours) == 2 * HOUR


def test_a_night_shift_is_short_in_spring_and_long_in_autumn() -> None:
    hours = calendar("Europe/Berlin", {"sun": [["01:00", "03:00"]]})
    spring = local("Europe/Berlin", 2025, 3, 30, 0, 0)
    autumn = local("Europe/Berlin", 2025, 10, 26, 0, 0)
    assert business_seconds_between(spring, spring + timedelta(days=1), hours) == 1 * HOUR
    assert business_seconds_between(autumn, autumn + timedelta(days=1), hours) == 3 * HOUR


def test_a_time_skipped_by_dst_is_never_reached() -> None:
    # 02:00-02:30 does not exist in Berlin on 2025-03-30: no business time that day.
    hours = calendar("Europe/Berlin", {"sun": [["02:00", "02:30"], ["10:00", "11:00"]]})
    day = local("Europe/Berlin", 2025, 3, 30, 0, 0)
    assert business_seconds_between(day, day + timedelta(days=1), hours) == HOUR


def test_lord_howe_half_hour_changes() -> None:
    hours = calendar("Australia/Lord_Howe", ALWAYS)
    back = local("Australia/Lord_Howe", 2025, 4, 6, 0, 0)
    forward = local("Australia/Lord_Howe", 2025, 10, 5, 0, 0)
    next_back = local("Australia/Lord_Howe", 2025, 4, 7, 0, 0)
    next_forward = local("Australia/Lord_Howe", 2025, 10, 6, 0, 0)
    assert business_seconds_between(back, next_back, hours) == 24 * HOUR + 1800
    assert business_seconds_between(forward, next_forward, hours) == 24 * HOUR - 1800


def test_holidays_have_no_business_time() -> None:
    hours = calendar("Asia/Kolkata", OFFICE, ["2025-03-07"])
    thursday = local("Asia/Kolkata", 2025, 3, 6, 16, 0)
    due = add_business_seconds(thursday, 2 * HOUR, hours)
    assert due.astimezone(ZoneInfo("Asia/Kolkata")) == local("Asia/Kolkata", 2025, 3, 10, 10, 0)


def test_calendar_hours_count_every_second() -> None:
    start = datetime(2025, 3, 29, 23, 0, tzinfo=UTC)
    assert add_business_seconds(start, 7200, None) == start + timedelta(hours=2)
    assert business_seconds_between(start, start + timedelta(days=2), None) == 2 * 86400


def test_between_is_negative_backwards_and_zero_seconds_is_the_start() -> None:
    hours = calendar("UTC", OFFICE)
    a, b = datetime(2025, 3, 3, 10, tzinfo=UTC), datetime(2025, 3, 3, 12, tzinfo=UTC)
    assert business_seconds_between(b, a, hours) == -2 * HOUR
    sunday = datetime(2025, 3, 2, 10, tzinfo=UTC)
    assert add_business_seconds(sunday, 0, hours) == sunday


def test_an_empty_week_is_refused() -> None:
    with pytest.raises(NeverOpen):
        calendar("Europe/Berlin", {})


@pytest.mark.parametrize(
    "schedule",
    [
        {"mon": [["09:00", "08:00"]]},
        {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]},
        {"mon": [["9:00", "12:00"]]},
        {"mon": [["09:00", "24:30"]]},
        {"funday": [["09:00", "12:00"]]},
    ],
)
def test_bad_schedules_are_refused(schedule: dict[str, list[list[str]]]) -> None:
    with pytest.raises(ValueError, match=r"weekday|time|after|overlap"):
        parse_schedule(schedule)


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2025, 3, 3, 9)  # noqa: DTZ001
    hours = calendar("UTC", OFFICE)
    with pytest.raises(ValueError, match="aware"):
        add_business_seconds(naive, 60, hours)


# --- properties ------------------------------------------------------------------------------------


@st.composite
def schedules(draw: st.DrawFn) -> dict[str, list[list[str]]]:
    """Random weeks at 30-minute granularity, often with night intervals that meet DST changes."""
    week: dict[str, list[list[str]]] = {}
    for day in WEEKDAYS:
        cuts = sorted(set(draw(st.lists(st.integers(0, 48), max_size=6))))
        pairs = list(zip(cuts[0::2], cuts[1::2], strict=False))
        week[day] = [[_hhmm(a * 30), _hhmm(b * 30)] for a, b in pairs if a < b]
    if not any(week.values()):
        week["mon"] = [["09:00", "17:00"]]
    return week


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    zone = draw(st.sampled_from(ZONES))
    schedule = draw(st.one_of(st.just(OFFICE), st.just(ALWAYS), schedules()))
    holidays = draw(
        st.lists(st.dates(date(2025, 1, 1), date(2025, 12, 31)), max_size=8).map(
            lambda ds: [d.isoformat() for d in ds]
        )
    )
    return calendar(zone, schedule, holidays)


near_transition = st.builds(
    lambda base, minutes: base + timedelta(minutes=minutes),
    st.sampled_from(TRANSITIONS),
    st.integers(-3 * 1440, 3 * 1440),
)
anywhere = st.datetimes(
    min_value=datetime(2025, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
    max_value=datetime(2025, 12, 20),  # noqa: DTZ001
    timezones=st.just(UTC),
)
instants = st.one_of(near_transition, anywhere)
spans = st.integers(0, 14 * 86400)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(hours=calendars(), start=instants, seconds=spans)
def test_between_inverts_add(hours: BusinessCalendar, start: datetime, seconds: int) -> None:
    due = add_business_seconds(start, seconds, hours)
    assert due >= start
    assert business_seconds_between(start, due, hours) == seconds


@PROPERTY
@given(hours=calendars(), start=instants, first=spans, second=spans)
def test_add_is_monotonic(
    hours: BusinessCalendar, start: datetime, first: int, second: int
) -> None:
    low, high = sorted((first, second))
    assert add_business_seconds(start, low, hours) <= add_business_seconds(start, high, hours)


@PROPERTY
@given(hours=calendars(), points=st.lists(instants, min_size=3, max_size=3))
def test_between_is_additive(hours: BusinessCalendar, points: list[datetime]) -> None:
    a, b, c = points
    total = business_seconds_between(a, c, hours)
    assert business_seconds_between(a, b, hours) + business_seconds_between(b, c, hours) == total
    if a <= c:
        assert 0 <= total <= (c.replace(microsecond=0) - a.replace(microsecond=0)).total_seconds()


def _open_at(hours: BusinessCalendar, instant: datetime) -> bool:
    """Oracle: is the local wall-clock time of `instant` inside its day's schedule?"""
    wall = instant.astimezone(ZoneInfo(hours.timezone))
    if wall.date() in hours.holidays:
        return False
    seconds = wall.hour * 3600 + wall.minute * 60 + wall.second
    return any(a * 60 <= seconds < b * 60 for a, b in hours.week[wall.weekday()])


@PROPERTY
@given(hours=calendars(), instant=instants)
def test_a_second_counts_exactly_when_the_wall_clock_is_inside_the_schedule(
    hours: BusinessCalendar, instant: datetime
) -> None:
    second = instant.replace(microsecond=0)
    counted = business_seconds_between(second, second + timedelta(seconds=1), hours)
    assert counted == int(_open_at(hours, second))


@settings(max_examples=40, deadline=None)
@given(hours=calendars(), start=near_transition, minutes=st.integers(0, 2 * 1440))
def test_between_matches_a_minute_by_minute_count(
    hours: BusinessCalendar, start: datetime, minutes: int
) -> None:
    start = start.replace(second=0, microsecond=0)
    expected = sum(60 for m in range(minutes) if _open_at(hours, start + timedelta(minutes=m)))
    assert business_seconds_between(start, start + timedelta(minutes=minutes), hours) == expected


@PROPERTY
@given(hours=calendars(), start=instants, seconds=st.integers(1, 14 * 86400))
def test_the_due_instant_closes_a_business_second(
    hours: BusinessCalendar, start: datetime, seconds: int
) -> None:
    due = add_business_seconds(start.replace(microsecond=0), seconds, hours)
    assert _open_at(hours, due - timedelta(seconds=1))
