"""The root tracker's decisions without an observer thread: a recording double stands in
for watchdog's Observer (the real one is tests/test_watch.py's)."""

from __future__ import annotations

import errno

from photoorg.db import Root
from photoorg.rootwatch import RootTracker


class Recorder:
    """What the tracker asked of the observer."""

    def __init__(self, refuse: bool = False):
        self.refuse, self.scheduled, self.unscheduled, self.emitters = refuse, [], [], []

    def schedule(self, handler, path, recursive):
        if self.refuse:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        self.scheduled.append(path)
        return ("watch", path)

    def unschedule(self, watch):
        self.unscheduled.append(watch)


def tracker(observer, refused=None):
    t = RootTracker(lambda root_id, path: None, lambda state, e: refused.append((state.path, e.errno)))
    t.observer = observer
    return t


def test_offline_then_online_is_said_once_each(tmp_path):
    observer, root = Recorder(), str(tmp_path)
    t = tracker(observer)
    assert t.recheck([Root(1, root, True, None)]) == {1}  # the first look rescans
    assert t.after_scan(1, online=True, was_online=True) is None  # online from the start
    assert observer.scheduled == [root] and t.modes() == {root: "watched"} and t.still_watched(1)
    assert t.after_scan(1, online=False, was_online=True) == "offline"
    assert observer.unscheduled == [("watch", root)] and t.modes() == {root: "offline"}
    assert t.after_scan(1, online=False, was_online=False) is None  # said already
    assert t.after_scan(1, online=True, was_online=False) == "online"
    assert t.modes() == {root: "watched"}


def test_a_root_offline_when_the_watcher_starts_is_said_back_online(tmp_path):
    t = tracker(Recorder())
    t.recheck([Root(1, str(tmp_path), False, None, "not mounted")])
    assert t.after_scan(1, online=True, was_online=False) == "online"


def test_a_refused_watch_falls_back_to_polling(tmp_path):
    refused = []
    t = tracker(Recorder(refuse=True), refused)
    t.recheck([Root(1, str(tmp_path), True, None)])
    t.after_scan(1, online=True, was_online=True)
    assert refused == [(str(tmp_path), errno.ENOSPC)]
    assert t.modes() == {str(tmp_path): "polling"} and t.polled() == {1}


def test_recheck_forgets_removed_roots_and_sees_paths_inside(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "ab").mkdir()
    observer = Recorder()
    t = tracker(observer)
    t.recheck([Root(1, str(tmp_path / "a"), True, None), Root(2, str(tmp_path / "ab"), True, None)])
    assert t.roots_of({str(tmp_path / "a" / "x.jpg")}) == {1}  # not "ab", which only starts alike
    assert t.roots_of({str(tmp_path / "a")}) == set()  # the root itself is not inside it
    assert t.recheck([Root(2, str(tmp_path / "ab"), True, None)]) == set()  # nothing new to see
    assert set(t.roots) == {2}
