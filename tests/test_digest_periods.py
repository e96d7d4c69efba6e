"""When a digest is due: send hours across time zones and daylight saving time (pure)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from papertide.digest import periods
from papertide.errors import InvalidSubscription

UTC = timezone.utc


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_slot_is_the_local_hour_in_utc() -> None:
    assert periods.slot("2026-03-28", 7, "Europe/Paris") == utc(2026, 3, 28, 6)   # CET, +1
    assert periods.slot("2026-03-29", 7, "Europe/Paris") == utc(2026, 3, 29, 5)   # CEST, +2
    assert periods.slot("2026-11-25", 7, "Asia/Kolkata") == utc(2026, 11, 25, 1, 30)
    assert periods.slot("2026-11-25", 0, "UTC") == utc(2026, 11, 25)


def test_an_hour_the_clocks_skip_is_the_moment_of_the_jump() -> None:
    # Paris, 29 March 2026: 02:00 CET becomes 03:00 CEST; 02:00 never happens.
    assert periods.slot("2026-03-29", 2, "Europe/Paris") == utc(2026, 3, 29, 1)
    # New York, 8 March 2026: 02:00 EST becomes 03:00 EDT.
    assert periods.slot("2026-03-08", 2, "America/New_York") == utc(2026, 3, 8, 7)
    # Lord Howe Island moves by half an hour: 02:00 becomes 02:30 on 4 October 2026.
    assert periods.slot("2026-10-04", 2, "Australia/Lord_Howe") == utc(2026, 10, 3, 15, 30)  # +10:30


def test_an_hour_that_happens_twice_is_its_first_occurrence() -> None:
    # Paris, 25 October 2026: 03:00 CEST goes back to 02:00 CET; 02:00 happens at 00:00 and 01:00 UTC.
    assert periods.slot("2026-10-25", 2, "Europe/Paris") == utc(2026, 10, 25, 0)
    # New York, 1 November 2026: 01:00 EDT (05:00 UTC) then 01:00 EST (06:00 UTC).
    assert periods.slot("2026-11-01", 1, "America/New_York") == utc(2026, 11, 1, 5)


@pytest.mark.parametrize("tz, hour, first, days", [
    ("Europe/Paris", 2, date(2026, 3, 26), 6),        # spring forward, skipped hour
    ("Europe/Paris", 2, date(2026, 10, 22), 6),       # fall back, repeated hour
    ("America/New_York", 1, date(2026, 10, 29), 6),   # fall back, repeated hour
    ("America/New_York", 7, date(2026, 3, 5), 6),
    ("Australia/Lord_Howe", 2, date(2026, 10, 1), 6),  # half-hour jump
    ("Pacific/Kiritimati", 1, date(2026, 11, 20), 4),  # UTC+14: local day ahead of UTC
    ("Pacific/Pago_Pago", 23, date(2026, 11, 20), 4),  # UTC-11: local day behind UTC
])
def test_exactly_one_digest_per_local_day_across_transitions(tz: str, hour: int, first: date, days: int) -> None:
    """A scheduler waking every 10 minutes sends once a day, at the first wake-up after the slot."""
    now = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    end = now + timedelta(days=days)
    last_period, last_sent, sent = None, now, []
    while now < end:
        period = periods.due_period("daily", hour, tz, now, last_period=last_period, not_before=last_sent)
        if period is not None:
            slot = periods.slot(period, hour, tz)
            assert slot <= now < slot + timedelta(minutes=10), (period, now)
            sent.append(period)
            last_period, last_sent = period, now
        now += timedelta(minutes=10)
    assert len(sent) == len(set(sent))
    assert len(sent) >= days - 1
    for a, b in zip(sent, sent[1:], strict=False):
        assert date.fromisoformat(b) - date.fromisoformat(a) == timedelta(days=1)


def test_before_the_hour_the_latest_period_is_yesterday() -> None:
    assert periods.latest_period("daily", 7, "Europe/Paris", utc(2026, 11, 25, 5, 59)) == "2026-11-24"
    assert periods.latest_period("daily", 7, "Europe/Paris", utc(2026, 11, 25, 6, 0)) == "2026-11-25"
    # Kiritimati (UTC+14) is already on the 26th at 12:00 UTC on the 25th.
    assert periods.latest_period("daily", 1, "Pacific/Kiritimati", utc(2026, 11, 25, 12)) == "2026-11-26"


def test_weekly_periods_are_iso_weeks_sent_on_monday() -> None:
    assert periods.period_of("weekly", date(2026, 12, 31)) == "2026-W53"
    assert periods.period_of("weekly", date(2027, 1, 3)) == "2026-W53"
    assert periods.period_of("weekly", date(2027, 1, 4)) == "2027-W01"
    assert periods.first_day("2026-W53") == date(2026, 12, 28)
    assert periods.slot("2026-W48", 8, "Europe/Paris") == utc(2026, 11, 23, 7)
    # Sunday evening still belongs to the week whose Monday slot has passed.
    assert periods.latest_period("weekly", 8, "UTC", utc(2026, 11, 29, 22)) == "2026-W48"
    assert periods.latest_period("weekly", 8, "UTC", utc(2026, 11, 30, 7, 59)) == "2026-W48"
    assert periods.latest_period("weekly", 8, "UTC", utc(2026, 11, 30, 8)) == "2026-W49"


def test_not_due_before_confirmation_nor_twice() -> None:
    now = utc(2026, 11, 25, 10)
    # Confirmed at 09:00 with hour 7: today's slot was before; the first digest is tomorrow's.
    assert periods.due_period("daily", 7, "UTC", now, last_period=None, not_before=utc(2026, 11, 25, 9)) is None
    assert periods.due_period("daily", 7, "UTC", now + timedelta(days=1), last_period=None,
                              not_before=utc(2026, 11, 25, 9)) == "2026-11-26"
    assert periods.due_period("daily", 7, "UTC", now, last_period="2026-11-25", not_before=None) is None
    # Moving to a zone where it is still yesterday does not send yesterday's digest again.
    assert periods.due_period("daily", 7, "America/Los_Angeles", now, last_period="2026-11-25",
                              not_before=utc(2026, 11, 25, 7, 1)) is None


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "../../etc/passwd", "", "utc+2"])
def test_unknown_time_zones_are_refused(name: str) -> None:
    with pytest.raises(InvalidSubscription):
        periods.zone(name)
