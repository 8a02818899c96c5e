"""The watcher's timing rules on a fake clock: no sleeping, no observer, no files."""

from __future__ import annotations

import pytest

from photoorg.coalesce import MOVE_PAIRING_DELAY, Change, Coalescer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.wall_ns = 2_000_000_000_000_000_000  # the files' mtimes are compared to this

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall_ns += int(seconds * 1e9)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def events(clock) -> Coalescer:
    return Coalescer(quiet=1.0, max_delay=10.0, settle=0.5, clock=clock, wall_ns=lambda: clock.wall_ns)


def touch(path: str, root_id: int = 1) -> Change:
    return Change(root_id, "touch", path)


def test_nothing_waits_at_first(events):
    assert events.empty and events.wake_at() is None and not events.due()
    assert events.take() == ([], set())


def test_a_burst_is_taken_once_the_folders_are_quiet(events, clock):
    for i in range(5):
        events.add(touch(f"/r/{i}.jpg"))
        clock.advance(0.5)  # never quiet for a whole second
    assert events.wake_at() == clock.now - 0.5 + 1.0
    assert not events.due() and events.take() == ([], set())
    clock.advance(0.5)
    changes, held = events.take()
    assert [c.path for c in changes] == [f"/r/{i}.jpg" for i in range(5)] and held == set()
    assert events.empty and events.wake_at() is None


def test_a_burst_that_never_goes_quiet_is_taken_after_max_delay(events, clock):
    for i in range(19):
        events.add(touch(f"/r/{i}.jpg"))
        clock.advance(0.5)
    assert events.due() is False  # 9.5 s after the first event
    events.add(touch("/r/19.jpg"))
    clock.advance(0.5)
    assert events.wake_at() == 1000.0 + 10.0 and events.due()
    assert len(events.take()[0]) == 20


def test_never_sooner_than_the_move_pairing_delay(clock):
    eager = Coalescer(quiet=0.1, max_delay=10.0, settle=0.0, clock=clock, wall_ns=lambda: clock.wall_ns)
    eager.add(Change(1, "move", "/r/a.jpg", "/r/b.jpg"))
    clock.advance(0.5)
    assert not eager.due()  # a move-out of another root may still be on its way
    clock.advance(MOVE_PAIRING_DELAY - 0.5)
    assert eager.due()


def test_a_file_still_being_written_is_held_then_taken_alone(events, clock):
    fresh = clock.wall_ns - int(0.2e9)  # written 0.2 s ago
    old = clock.wall_ns - int(60e9)
    assert events.holds("/r/copying.jpg", fresh) is True
    assert events.holds("/r/done.jpg", old) is False
    assert not events.empty and events.wake_at() == clock.now + 0.5
    assert not events.due()
    clock.advance(0.5)
    assert events.take() == ([], {"/r/copying.jpg"})
    assert events.empty


def test_a_recent_event_holds_its_file_for_the_pairing_delay(events, clock):
    events.add(touch("/r/a.jpg"))
    clock.advance(0.3)
    old = clock.wall_ns - int(60e9)  # its mtime is old (a copy that kept the original's)
    assert events.holds("/r/a.jpg", old) is True
    assert events.wake_at() == 1001.0  # the burst's time; the held file goes along with it
    clock.advance(MOVE_PAIRING_DELAY)
    events.forget_old_touches()
    assert events.holds("/r/a.jpg", old) is False  # forgotten: the event is old enough


def test_held_files_go_along_with_the_next_burst(events, clock):
    events.holds("/r/copying.jpg", clock.wall_ns)
    clock.advance(0.1)
    events.add(touch("/r/b.jpg", root_id=2))
    clock.advance(0.4)
    assert not events.due()  # the burst is not quiet yet, so the held file waits with it
    clock.advance(0.6)
    changes, held = events.take()
    assert [c.root_id for c in changes] == [2] and held == {"/r/copying.jpg"}


def test_a_rename_does_not_hold_its_file(events, clock):
    events.add(Change(1, "move", "/r/a.jpg", "/r/b.jpg"))
    assert events.holds("/r/a.jpg", clock.wall_ns - int(60e9)) is False
