"""When a digest is due: periods, send slots, time zones (pure).

A *period* names one digest of a subscriber: the local day (``2026-03-29``) for a
daily digest, the ISO week (``2026-W13``) for a weekly one. Its *slot* is the
moment the digest may go out: the send hour on that day (weekly: on the week's
Monday) in the subscriber's time zone, as a UTC instant.

Daylight saving time: a send hour that does not exist on a day (the clocks jump
over it) is read with the offset in force before the jump, so the slot is the
instant of the jump; an hour that happens twice is its first occurrence. Either
way a period has exactly one slot, so a digest goes out once per day or week.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from papertide.errors import UnknownTimeZone

FREQUENCIES = ("daily", "weekly")
_LENGTH = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


def zone(name: str) -> ZoneInfo:
    """The time zone by IANA name; InvalidSubscription if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise UnknownTimeZone(f"unknown time zone {name!r} (use a name like Europe/Paris or UTC)") from None


def period_length(frequency: str) -> timedelta:
    """How much time one period covers."""
    return _LENGTH[frequency]


def period_of(frequency: str, day: date) -> str:
    """The period a local day belongs to."""
    if frequency == "weekly":
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return day.isoformat()


def first_day(period: str) -> date:
    """The local day a period starts on (a week's Monday)."""
    if "-W" in period:
        year, week = period.split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    return date.fromisoformat(period)


def slot(period: str, hour: int, tz: str) -> datetime:
    """The UTC instant a period's digest may be sent."""
    local = datetime.combine(first_day(period), time(hour), tzinfo=zone(tz))  # fold=0, see module doc
    return local.astimezone(timezone.utc)


def latest_period(frequency: str, hour: int, tz: str, now: datetime) -> str:
    """The newest period whose slot is at or before ``now`` (an aware datetime)."""
    today = now.astimezone(zone(tz)).date()
    period = period_of(frequency, today)
    if slot(period, hour, tz) <= now:
        return period
    return period_of(frequency, first_day(period) - timedelta(days=1))


def due_period(frequency: str, hour: int, tz: str, now: datetime, *,
               last_period: str | None, not_before: datetime | None) -> str | None:
    """The period to send now, or None: the latest one whose slot has passed, unless it was
    already queued (``last_period``) or its slot is not after ``not_before`` (the last digest
    or the confirmation: a subscriber confirmed at 10:00 with hour 7 gets tomorrow's)."""
    period = latest_period(frequency, hour, tz, now)
    if period == last_period:
        return None
    if not_before is not None and slot(period, hour, tz) <= not_before:
        return None
    return period


def parse_instant(text: str) -> datetime:
    """A stored ISO timestamp as an aware UTC datetime."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def iso(when: datetime) -> str:
    """An aware datetime as the store's ISO text (UTC, microseconds, sortable)."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
