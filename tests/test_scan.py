import os
import shutil

from photoorg.progress import drive
from tests.conftest import write_photo


def scan(library, paths=None):
    return drive(library.scan(paths))


def states(library):
    return {
        os.path.relpath(p.path, p.path.split("/photos/")[0] + "/photos"): p.state
        for p in library.store.photos_where("1")
    }


def test_first_scan_finds_supported_photos_as_pending(library, photo_dir):
    (photo_dir / "notes.txt").write_text("not a photo")
    (photo_dir / ".hidden.jpg").write_bytes(b"x")
    library.add_roots([photo_dir])
    [result] = scan(library)
    assert (result.seen, result.new) == (4, 4)
    assert set(states(library).values()) == {"pending"}


def test_rescan_without_changes_touches_nothing(library, photo_dir):
    library.add_roots([photo_dir])
    scan(library)
    [result] = scan(library)
    assert (result.new, result.changed, result.moved, result.missing) == (0, 0, 0, 0)


def test_changed_file_becomes_pending_again(library, photo_dir):
    library.add_roots([photo_dir])
    scan(library)
    drive(library.index())
    write_photo(photo_dir / "home" / "cat.png", size=(90, 60), color=(1, 2, 3), fmt="PNG")
    [result] = scan(library)
    assert result.changed == 1
    assert states(library)["home/cat.png"] == "pending"


def test_moved_file_keeps_its_row_and_tags(library, photo_dir):
    library.add_roots([photo_dir])
    scan(library)
    drive(library.index())
    library.tag(photo_dir / "beach" / "evening.jpg", add=["Grandma"])
    before = library.photo(photo_dir / "beach" / "evening.jpg").id
    (photo_dir / "archive").mkdir()
    os.rename(photo_dir / "beach" / "evening.jpg", photo_dir / "archive" / "renamed.jpg")
    [result] = scan(library)
    assert (result.moved, result.new, result.missing) == (1, 0, 0)
    moved = library.photo(photo_dir / "archive" / "renamed.jpg")
    assert moved.id == before and moved.state == "indexed"
    assert [t.tag for t in library.store.tags_of(moved.id)] == ["Grandma"]


def test_move_between_roots_is_recognised_whichever_root_is_walked_first(library, tmp_path, photo_dir):
    other = tmp_path / "aaa_other"  # sorts before "photos", so it is surveyed first
    other.mkdir()
    library.add_roots([photo_dir, other])
    scan(library)
    library.tag(photo_dir / "rotated.jpg", add=["keep me"])
    shutil.move(photo_dir / "rotated.jpg", other / "rotated.jpg")
    results = scan(library)
    assert sum(r.moved for r in results) == 1 and sum(r.new for r in results) == 0
    assert [t.tag for t in library.store.tags_of(library.photo(other / "rotated.jpg").id)] == ["keep me"]


def test_deleted_file_is_missing_but_kept(library, photo_dir):
    library.add_roots([photo_dir])
    scan(library)
    library.tag(photo_dir / "home" / "cat.png", add=["Tom"])
    os.remove(photo_dir / "home" / "cat.png")
    [result] = scan(library)
    assert result.missing == 1
    assert states(library)["home/cat.png"] == "missing"
    missing = library.store.photos_where("p.state = 'missing'")[0]
    assert [t.tag for t in library.store.tags_of(missing.id)] == ["Tom"]


def test_missing_file_that_comes_back_is_restored(library, photo_dir):
    library.add_roots([photo_dir])
    scan(library)
    data = (photo_dir / "rotated.jpg").read_bytes()
    os.remove(photo_dir / "rotated.jpg")
    scan(library)
    (photo_dir / "rotated.jpg").write_bytes(data)
    scan(library)
    assert states(library)["rotated.jpg"] == "pending"


def test_unplugged_root_goes_offline_and_nothing_changes(library, tmp_path, photo_dir):
    library.add_roots([photo_dir])
    scan(library)
    drive(library.index())
    parked = tmp_path / "parked"
    os.rename(photo_dir, parked)  # the drive is unplugged
    [result] = scan(library)
    assert not result.online and "not found" in result.offline_reason
    assert set(states(library).values()) == {"indexed"}
    assert not library.roots()[0].online
    os.rename(parked, photo_dir)  # plugged back in
    [result] = scan(library)
    assert result.online and result.missing == 0
    assert library.roots()[0].online


def test_empty_mount_point_is_offline_not_everything_deleted(library, tmp_path, photo_dir):
    library.add_roots([photo_dir])
    scan(library)
    parked = tmp_path / "parked"
    os.rename(photo_dir, parked)
    photo_dir.mkdir()  # the mount point stays, empty, while the drive is away
    [result] = scan(library)
    assert not result.online and "empty" in result.offline_reason
    assert "missing" not in states(library).values()


def test_unreadable_folder_is_reported_and_its_photos_not_marked_missing(library, photo_dir, monkeypatch):
    library.add_roots([photo_dir])
    scan(library)
    real_scandir = os.scandir

    def scandir(path):  # tests run as root in CI, where chmod 000 does not stop reads
        if str(path).endswith(os.sep + "beach"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr("photoorg.scan.os.scandir", scandir)
    [result] = scan(library)
    assert result.missing == 0
    assert any("beach" in p.path and "Permission denied" in p.reason for p in result.problems)


def test_symlink_loops_and_odd_names_are_problems_not_crashes(library, photo_dir):
    os.symlink("loop.jpg", photo_dir / "loop.jpg")
    os.symlink(".", photo_dir / "home" / "again")
    bad_name = os.fsencode(photo_dir) + b"/caf\xe9.jpg"
    with open(bad_name, "wb") as f:
        f.write((photo_dir / "rotated.jpg").read_bytes())
    library.add_roots([photo_dir])
    [result] = scan(library)
    reasons = {os.path.basename(p.path): p.reason for p in result.problems}
    assert reasons["loop.jpg"] == "symlink loop"
    assert "symlink loop" in reasons["again"]
    assert "UTF-8" in reasons["caf\ufffd.jpg"]
    assert result.new == 4
    assert len(library.problems()) == 3  # stored, so `photoorg errors` shows them later


def test_index_reads_metadata_and_makes_thumbnails(library, photo_dir):
    library.add_roots([photo_dir])
    scan(library)
    report = drive(library.index())
    assert (report.indexed, report.failed) == (4, 0)
    sunny = library.photo(photo_dir / "beach" / "sunny_day.jpg")
    assert sunny.taken_at == "2021-07-14T12:00:00" and sunny.camera_model == "EOS R6"
    rotated = library.photo(photo_dir / "rotated.jpg")
    assert (rotated.width, rotated.height) == (32, 64)
    from PIL import Image

    with Image.open(library.thumbnail(rotated)) as thumb:
        assert thumb.size[0] < thumb.size[1]  # stored upright


def test_a_root_holding_the_library_folder_is_refused(tmp_path):
    import pytest

    from photoorg.library import Library, LibraryError

    write_photo(tmp_path / "a.jpg")
    with Library(tmp_path / "library") as lib:
        with pytest.raises(LibraryError, match="holds this library's own folder"):
            lib.add_roots([tmp_path])
    with Library(tmp_path / ".photoorg") as lib:  # hidden: the scan never enters it
        assert lib.add_roots([tmp_path])


def test_the_library_folder_itself_or_one_inside_it_is_refused(tmp_path):
    import pytest

    from photoorg.library import Library, LibraryError

    with Library(tmp_path / "library") as lib:
        (tmp_path / "library" / "inside").mkdir()
        for folder in (tmp_path / "library", tmp_path / "library" / "inside"):
            with pytest.raises(LibraryError, match="library's own folder"):
                lib.add_roots([folder])
        assert lib.roots() == []


def test_a_folder_holding_a_root_is_refused_so_no_photo_is_listed_twice(tmp_path):
    import pytest

    from photoorg.library import Library, LibraryError

    write_photo(tmp_path / "photos" / "trip" / "a.jpg")
    with Library(tmp_path / "library") as lib:
        lib.add_roots([tmp_path / "photos" / "trip"])
        with pytest.raises(LibraryError, match="already holds"):
            lib.add_roots([tmp_path / "photos"])
        write_photo(tmp_path / "more" / "sub" / "b.jpg")
        with pytest.raises(LibraryError, match="twice"):  # parent and child in one call
            lib.add_roots([tmp_path / "more" / "sub", tmp_path / "more"])
        assert [r.path for r in lib.roots()] == [str((tmp_path / "photos" / "trip").resolve())]


def test_a_tag_is_removed_as_written_when_it_was_added(library, photo_dir):
    # --add "  Surf  trip " stores "Surf trip"; the same words remove it.
    library.add_roots([photo_dir])
    scan(library)
    photo = photo_dir / "beach" / "sunny_day.jpg"
    library.tag(photo, add=["  Surf  trip "])
    assert [t.tag for t in library.tag(photo, remove=[" Surf trip  "])] == []
