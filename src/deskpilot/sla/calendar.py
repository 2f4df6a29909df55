"""Business-time arithmetic: pure functions on aware datetimes, correct across DST changes.

A `BusinessCalendar` is a weekly schedule of local wall-clock intervals (e.g. 09:00-17:00 Monday
to Friday) plus holiday dates, in an IANA time zone. `add_business_seconds` answers "when has this
much business time passed?", `business_seconds_between` "how much business time lies between these
two instants?". Passing `None` as the calendar means calendar hours (every second counts).

Semantics, chosen so the two functions are exact inverses and counting is additive:

- An interval ["09:00", "17:00"] of a weekday covers exactly the instants whose local wall-clock
  time on that local date lies in [09:00, 17:00). On a DST change this is not always a single
  stretch of real time: when clocks go back, a 01:00-03:00 interval lasts three real hours; when
  they spring forward it lasts one, and a wall time that does not exist (02:30 in Berlin on the
  last Sunday of March) is simply never reached. Half-hour changes (Australia/Lord_Howe) work the
  same way.
- "24:00" may end an interval (00:00-24:00 is a whole day). Intervals crossing midnight are not
  supported: split them into "22:00-24:00" and the next day's "00:00-06:00".
- Holidays are local dates with no business time at all.
- Counting is in whole seconds: `business_seconds_between` floors both instants to the second, so
  `between(a, b) + between(b, c) == between(a, c)` always holds and
  `between(a, add(a, s)) == s`. `add(a, s)` for s > 0 is the instant the s-th business second
  ends (it may be exactly the end of an interval: Friday 16:00 + 1 h is Friday 17:00).
- A schedule with no interval at all would never reach a target: `BusinessCalendar` refuses it.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SECOND = timedelta(seconds=1)
# UTC offsets in use lie within [-12h, +14h]: instants of local date d lie in this window.
_BEFORE = timedelta(hours=14)
_AFTER = timedelta(hours=12)
_DAY = timedelta(days=1)

Minutes = tuple[int, int]  # (start, end) minutes after local midnight; end may be 1440


class NeverOpen(ValueError):
    """The schedule has no business time at all, so no target could ever be reached."""


def parse_wall_time(text: str) -> int:
    """'HH:MM' (00:00-24:00) to minutes after midnight; ValueError otherwise."""
    hours, sep, minutes = text.partition(":")
    if not sep or len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise ValueError(f"{text!r} is not a HH:MM time")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > 24 * 60:
        raise ValueError(f"{text!r} is not a time between 00:00 and 24:00")
    return value


def parse_schedule(
    schedule: Mapping[str, Sequence[Sequence[str]]],
) -> tuple[tuple[Minutes, ...], ...]:
    """{"mon": [["09:00", "17:00"]], ...} to seven sorted tuples of minute intervals.

    Raises ValueError for unknown weekdays, malformed times, empty or overlapping intervals.
    """
    unknown = set(schedule) - set(WEEKDAYS)
    if unknown:
        raise ValueError(f"unknown weekday(s) {sorted(unknown)}; use {', '.join(WEEKDAYS)}")
    days: list[tuple[Minutes, ...]] = []
    for day in WEEKDAYS:
        intervals: list[Minutes] = []
        for pair in schedule.get(day) or []:
            if len(pair) != 2:
                raise ValueError(f"{day}: each interval is [start, end]")
            start, end = parse_wall_time(pair[0]), parse_wall_time(pair[1])
            if start >= end:
                raise ValueError(f"{day}: {pair[0]}-{pair[1]} must end after it starts")
            intervals.append((start, end))
        intervals.sort()
        for (_, prev_end), (start, _) in itertools.pairwise(intervals):
            if start < prev_end:
                raise ValueError(f"{day}: intervals overlap")
        days.append(tuple(intervals))
    return tuple(days)


@dataclass(frozen=True)
class BusinessCalendar:
    """A weekly schedule in one time zone with holidays. Hashable, so day maths is cached."""

    timezone: str
    week: tuple[tuple[Minutes, ...], ...]
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        if len(self.week) != 7:
            raise ValueError("a week has seven days")
        if not any(self.week):
            raise NeverOpen("the schedule has no business hours on any day")

    @classmethod
    def from_config(
        cls,
        timezone: str,
        schedule: Mapping[str, Sequence[Sequence[str]]],
        holidays: Sequence[str] = (),
    ) -> BusinessCalendar:
        return cls(
            timezone=timezone,
            week=parse_schedule(schedule),
            holidays=frozenset(date.fromisoformat(h) for h in holidays),
        )

    @classmethod
    def from_model(cls, hours: Any) -> BusinessCalendar:
        """From a `BusinessHours` row (anything with timezone, schedule and holidays)."""
        return cls.from_config(hours.timezone, hours.schedule or {}, hours.holidays or [])

    @property
    def weekly_seconds(self) -> int:
        return sum((end - start) * 60 for day in self.week for start, end in day)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("business-time maths needs timezone-aware datetimes")
    return value.astimezone(UTC)


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _segments(
    zone: ZoneInfo, lo: datetime, hi: datetime
) -> list[tuple[datetime, datetime, timedelta]]:
    """Split [lo, hi) into stretches of constant UTC offset (finding transitions to the second)."""
    first, last = _offset(zone, lo), _offset(zone, hi)
    middle = _offset(zone, lo + (hi - lo) / 2)
    if first == middle == last:
        return [(lo, hi, first)]
    cuts: list[datetime] = []
    step = timedelta(hours=1)
    probe, current = lo, first
    while probe < hi:
        nxt = min(probe + step, hi)
        if _offset(zone, nxt) != current:
            low, high = probe, nxt  # offset(low) == current != offset(high)
            while high - low > SECOND:
                mid = low + ((high - low) // 2 // SECOND) * SECOND
                if _offset(zone, mid) == current:
                    low = mid
                else:
                    high = mid
            cuts.append(high)
            current = _offset(zone, high)
        probe = nxt
    bounds = [lo, *cuts, hi]
    return [(a, b, _offset(zone, a)) for a, b in itertools.pairwise(bounds) if a < b]


@lru_cache(maxsize=8192)
def day_intervals(calendar: BusinessCalendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    """The business time of one local date as sorted, disjoint UTC [start, end) stretches."""
    if day in calendar.holidays:
        return ()
    wanted = calendar.week[day.weekday()]
    if not wanted:
        return ()
    zone = ZoneInfo(calendar.timezone)
    midnight = datetime.combine(day, time(0), tzinfo=UTC)  # local midnight, read as if UTC
    pieces: list[tuple[datetime, datetime]] = []
    for seg_lo, seg_hi, offset in _segments(zone, midnight - _BEFORE, midnight + _DAY + _AFTER):
        # Inside one segment wall time = instant + offset, a bijection: map the wall interval back.
        for start, end in wanted:
            lo = max(seg_lo, midnight + timedelta(minutes=start) - offset)
            hi = min(seg_hi, midnight + timedelta(minutes=end) - offset)
            if lo < hi:
                pieces.append((lo, hi))
    pieces.sort()
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in pieces:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def business_intervals(
    calendar: BusinessCalendar, after: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """Business stretches ending after `after`, in time order, forever (holidays are finite).

    Stretches of one local date may precede those of the previous date when clocks go back around
    midnight, so they pass through a heap and leave it only once no later date can start earlier.
    """
    after = _utc(after)
    day = (after - _BEFORE - _DAY).date()
    heap: list[tuple[datetime, datetime]] = []
    while True:
        for piece in day_intervals(calendar, day):
            if piece[1] > after:
                heapq.heappush(heap, piece)
        day += _DAY
        # No stretch of `day` or later can start before its local midnight minus the widest offset.
        horizon = datetime.combine(day, time(0), tzinfo=UTC) - _BEFORE
        while heap and heap[0][0] < horizon:
            yield heapq.heappop(heap)


def _max_days(calendar: BusinessCalendar, seconds: int) -> int:
    weeks = seconds // max(calendar.weekly_seconds, 1) + 2
    return 7 * weeks * 2 + len(calendar.holidays) + 14


def add_business_seconds(start: datetime, seconds: int, hours: BusinessCalendar | None) -> datetime:
    """The instant `seconds` of business time after `start` (UTC). `hours=None`: calendar time."""
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    start = _utc(start)
    if hours is None or seconds == 0:
        return start + timedelta(seconds=seconds)
    remaining = timedelta(seconds=seconds)
    limit = start + timedelta(days=_max_days(hours, seconds))
    for lo, hi in business_intervals(hours, start):
        lo = max(lo, start)
        if remaining <= hi - lo:
            return lo + remaining
        remaining -= hi - lo
        if lo > limit:  # pragma: no cover - only a schedule made of DST gaps could get here
            break
    raise NeverOpen("the schedule never accumulates enough business time")


def _floor_second(value: datetime) -> datetime:
    return _utc(value).replace(microsecond=0)


def business_seconds_between(a: datetime, b: datetime, hours: BusinessCalendar | None) -> int:
    """Whole business seconds in [a, b) (negative when b is before a). `hours=None`: calendar."""
    lo, hi = _floor_second(a), _floor_second(b)
    if hi < lo:
        return -business_seconds_between(b, a, hours)
    if hours is None:
        return (hi - lo) // SECOND
    total = timedelta(0)
    for start, end in business_intervals(hours, lo):
        if start >= hi:
            break
        total += min(end, hi) - max(start, lo)
    return total // SECOND
