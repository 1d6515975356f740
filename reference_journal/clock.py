"""The journal's clock: the system clock plus an offset, optionally frozen (test-control
`setClock`). It drives "today" (ages, academic years), timestamps of records and the event
log, and session expiry."""
from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

RECORD_FORMAT = "%Y-%m-%d %H:%M:%S"  # datetimes of the export tables (local time, no offset)


def zone(name: str) -> dt.tzinfo:
    """The named time zone; Moscow time as a fixed offset when the tz database is missing."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if name == "Europe/Moscow":
            return dt.timezone(dt.timedelta(hours=3), "MSK")
        raise


class Clock:
    """System time + offset, or a frozen instant."""

    def __init__(self, tz: dt.tzinfo, offset_seconds: int = 0) -> None:
        self.tz = tz
        self._default = dt.timedelta(seconds=offset_seconds)
        self._offset = self._default
        self._frozen: dt.datetime | None = None
        self._lock = threading.Lock()

    def real_now(self) -> dt.datetime:
        return dt.datetime.now(self.tz)

    def now(self) -> dt.datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return self.real_now() + self._offset

    def today(self) -> dt.date:
        return self.now().date()

    def stamp(self) -> str:
        """Now as a record datetime (`YYYY-MM-DD hh:mm:ss`, local time)."""
        return self.now().strftime(RECORD_FORMAT)

    def iso(self) -> str:
        """Now as RFC 3339 with offset, seconds precision."""
        return self.now().isoformat(timespec="seconds")

    def set(self, now: dt.datetime, frozen: bool = False) -> None:
        if now.tzinfo is None:
            raise ValueError("now needs a UTC offset")
        now = now.astimezone(self.tz)
        with self._lock:
            self._offset = now - self.real_now()
            self._frozen = now if frozen else None

    def advance(self, seconds: int) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        step = dt.timedelta(seconds=seconds)
        with self._lock:
            self._offset += step
            if self._frozen is not None:
                self._frozen += step

    def release(self) -> None:
        """Back to the configured offset (0 = the system clock), running."""
        with self._lock:
            self._offset = self._default
            self._frozen = None

    def state(self) -> dict[str, object]:
        """ClockState of test-control.yaml."""
        now, real = self.now(), self.real_now()
        return {"now": now.isoformat(timespec="seconds"), "real_now": real.isoformat(timespec="seconds"),
                "offset_seconds": round((now - real).total_seconds()), "frozen": self._frozen is not None}
