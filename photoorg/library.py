"""photoorg.Library: the one facade every front end (CLI, GUI, scripts) calls.

The engine's heavy parts (the indexer, faces and people: numpy, Pillow and the models
behind them) are imported by the methods that run them: the window opens a Library to
show its first page, and importing them with this module cost it 0.1-0.2 s before a
single photo was on screen (bench/gui.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from .db import Photo, Root, Store, Tag
from .errors import LibraryError, UserError
from .formats import is_supported
from .indexstate import index_lock, last_run, remember_run, run_key
from .labels import LabelError, clean_label, shown
from .modelops import make_cutout, model_choices, names_to_download
from .modelset import ModelSet, load_model_set
from .progress import Control, Progress, Work
from .purge import PurgePlan, plan_purge
from .query import parse
from .scan import ScanResult, scan
from .settings import Settings, load_settings
from .thumbs import thumbnail
from .watch import WatchService

if TYPE_CHECKING:
    from .index import IndexReport
    from .photo_faces import PhotoFace


def _inside(path: str, folder: str) -> bool:
    """Strictly inside `folder` (both resolved): a folder is not inside itself."""
    return path != folder and PurePath(path).is_relative_to(folder)


def _hidden(path: str, under: str) -> bool:
    return any(part.startswith(".") for part in Path(os.path.relpath(path, under)).parts)


def _holds_photos(folder: Path) -> bool:
    """Photos right in `folder`: someone typed --library where they meant `add`."""
    try:
        return any(entry.is_file() and is_supported(entry.name) for entry in os.scandir(folder))
    except OSError:
        return False


def query_labels(query: str) -> frozenset[str]:
    """The box labels a search asks for with has: ("has:dog" -> {"dog"})."""
    return frozenset(
        str(f.value)
        for f in parse(query).filters
        if f.key == "has" and not f.negated and f.value not in ("gps", "error")
    )


def default_folder() -> Path:
    env = os.environ.get("PHOTOORG_LIBRARY")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("photoorg", appauthor=False))


def _text_path(raw: str | Path, path: Path) -> str:
    """The path as text SQLite can store, or LibraryError: a name that is not UTF-8
    (bytes from another system) cannot be a library folder until it is renamed."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise LibraryError(
            f"{shown(str(raw))}: the folder's name is not valid UTF-8; rename it to add it."
        ) from None
    return text


@dataclass(frozen=True)
class RootStatus:
    root: Root
    counts: dict[str, int]
    unconfirmed: int = 0  # photos a scan found gone in bulk, waiting for the user's word


@dataclass(frozen=True)
class Status:
    folder: Path
    counts: dict[str, int]
    roots: list[RootStatus]


@dataclass(frozen=True)
class Problem:
    path: str
    reason: str


class Library:
    def __init__(self, folder: Path | str | None = None):
        self.folder = Path(folder).expanduser() if folder else default_folder()
        if self.folder.exists() and not self.folder.is_dir():
            raise LibraryError(f"{self.folder} is a file; a library is a folder.")
        if _holds_photos(self.folder) and not (self.folder / "library.db").exists():
            raise LibraryError(
                f"{self.folder} holds photos, and a library folder is where photoorg keeps its "
                f"own files; to add these photos, run `photoorg add {self.folder}`."
            )
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LibraryError(f"Cannot create the library folder {self.folder}: {e.strerror}.") from None
        self.store = Store(self.folder / "library.db")
        self.thumbs_dir = self.folder / "thumbs"
        self.models_dir = self.folder / "models"

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- folders -------------------------------------------------------------

    def add_roots(self, paths: list[str | Path]) -> list[Root]:
        """Watch these folders from now on. Nothing is added unless every path is a
        readable folder, so a typo does not leave half the list added."""
        resolved = []
        for raw in paths:
            path = Path(raw).expanduser()
            if not path.exists():
                raise LibraryError(f"{raw}: no such folder.")
            if not path.is_dir():
                raise LibraryError(f"{raw}: is a file, not a folder; add the folder that holds it.")
            if not os.access(path, os.R_OK | os.X_OK):
                raise LibraryError(f"{raw}: permission denied.")
            resolved.append(_text_path(raw, path.resolve()))
        library = str(self.folder.resolve())
        for path in resolved:
            for root in self.store.roots():
                if _inside(path, root.path):
                    raise LibraryError(f"{path} is already in the library, inside {root.path}.")
                # Both roots would list the same files: every photo twice.
                if _inside(root.path, path):
                    raise LibraryError(
                        f"{path} already holds the library folder {root.path}; remove that one "
                        "first (`photoorg remove`), then add the outer folder."
                    )
            for other in resolved:
                if _inside(other, path):
                    raise LibraryError(
                        f"{other} is inside {path}; add only {path}, or its photos would be listed twice."
                    )
            if path == library or _inside(path, library):
                raise LibraryError(
                    f"{path} is this library's own folder or inside it; add your photo folders instead."
                )
            # Its thumbnails would be scanned as photos. (Hidden folders such as the
            # default ~/.local/share/photoorg are skipped by the scan anyway.)
            if _inside(library, path) and not _hidden(library, path):
                raise LibraryError(
                    f"{path} holds this library's own folder ({library}); keep the library "
                    "elsewhere (--library DIR) or add a folder that does not contain it."
                )
        with self.store.transaction():
            return [self.store.add_root(path) for path in resolved]

    def add(self, paths: list[str | Path]) -> Work[list[ScanResult]]:
        """Add folders and scan them, all or nothing: a scan that fails (a full disk)
        leaves no folder registered with half its photos."""

        def work():
            with self.store.transaction():
                roots = self.add_roots(paths)
                return (yield from scan(self.store, [r.id for r in roots]))

        return work()

    def remove_root(self, path: str | Path) -> Root:
        """Forget a folder and its photos' rows. The files are never touched."""
        root = self._root(path)
        self.store.remove_root(root.id)
        return root

    def roots(self) -> list[Root]:
        return self.store.roots()

    def _root(self, path: str | Path) -> Root:
        wanted = str(Path(path).expanduser().resolve(strict=False))
        root = self.store.root_by_path(wanted) or self.store.root_by_path(str(path))
        if root is None:
            known = ", ".join(r.path for r in self.store.roots()) or "none yet"
            raise LibraryError(f"{path} is not a library folder (folders: {known}).")
        return root

    # -- work ----------------------------------------------------------------

    def scan(
        self, paths: list[str | Path] | None = None, confirm_missing: bool = False
    ) -> Work[list[ScanResult]]:
        """confirm_missing: the user's word that photos gone from these folders are
        really gone (a folder where none of them is left, or many gone at once), so
        they are marked missing rather than the folder offline or them unconfirmed."""
        roots = [self._root(p) for p in paths] if paths else self.store.roots()
        return scan(self.store, [r.id for r in roots], confirm=confirm_missing)

    def index(
        self,
        control: Control | None = None,
        batch_size: int = 16,
        device: str | None = None,
        models: ModelSet | None = None,
        precision: str | None = None,
    ) -> Work[IndexReport]:
        """Process pending photos with the models chosen in the settings (loaded when
        the work starts, kept for the next run); `models` overrides them (tests, benches);
        `precision` overrides the setting for CLIP's image tower on the CPU."""
        from .index import IndexReport, run_index
        from .people import group_new_faces
        from .photo_faces import describe_drawn

        def work():
            with index_lock(self.folder):
                key = run_key(*self._models_key(device, precision), self.store.vocabulary())
                last = last_run(self.folder)
                if models is None and last.get("key") == key and not self.store.pending_count():
                    yield Progress("index", 0, 0)  # a run always reports its start
                    return IndexReport(waiting=list(last.get("waiting", ())))
                chosen = models or self.model_set(device, precision)
                report = yield from run_index(
                    self.store, self.thumbs_dir, chosen, batch_size=batch_size, control=control
                )
                if models is None and not report.cancelled:
                    remember_run(self.folder, key, report.waiting)
                if chosen.faces is not None:  # faces drawn by hand, described by this model
                    describe_drawn(self.store, chosen.faces)
                group_new_faces(self.store)  # the faces found in this run join groups
                return report

        return work()

    # -- models ----------------------------------------------------------------

    @property
    def weights(self):
        from .models.registry import WeightStore

        return WeightStore(self.models_dir)

    def settings(self) -> Settings:
        return load_settings(self.folder)

    def model_set(self, device: str | None = None, precision: str | None = None) -> ModelSet:
        """The chosen CLIP (with tagger) and detector, whichever are installed; loaded
        once and reused while the settings, vocabulary and installed files stay the same."""
        settings = self.settings()
        vocabulary = self.store.vocabulary()
        key = self._models_key(device, precision)
        if getattr(self, "_model_key", None) != key:
            # The library's first photos join the int8 check's fixed probe images.
            probes = [p.path for p in self.store.photos(range(1, 17))]
            self._model_set = load_model_set(
                self.folder, settings, self.weights, vocabulary, device, precision=precision, probes=probes
            )
            self._model_key = key
        self._model_set.words = vocabulary
        return self._model_set

    def _models_key(self, device: str | None, precision: str | None = None) -> tuple:
        """What decides which models an index run loads: the settings, the device and
        CLIP's precision, and which of the chosen weights are installed."""
        settings = self.settings()
        return (
            settings,
            device,
            precision,
            tuple(
                self.weights.path(settings.model(r)) is not None
                for r in ("clip", "detector", "face", "face-landmarks")
            ),
        )

    def models(self) -> list:
        """Every known model (ModelChoice): role, installed, size, licence, chosen here."""
        return model_choices(self.weights, self.settings())

    def download_models(self, name: str | None = None) -> Work[list[Path]]:
        """Fetch `name`, or every chosen model not installed yet, yielding Progress in
        bytes (stage "download NAME"); the CLI and the GUI drive the same work."""
        names = [name] if name else names_to_download(self.weights, self.settings())
        paths = []
        for n in names:
            paths.append((yield from self.weights.downloading(n)))
        return paths

    def import_model(self, name: str, file: str | Path, allow_mismatch: bool = False) -> Path:
        return self.weights.import_file(name, Path(file).expanduser(), allow_mismatch)

    def use_model(self, name: str) -> Settings:
        """Choose `name` for its role; the next index run re-processes what it changes."""
        from .settings import use_model

        return use_model(self.folder, name)

    def add_vocabulary(self, word: str, device: str | None = None, models: ModelSet | None = None) -> int:
        """Add a tag word and apply it to every photo from the stored embeddings (no
        photo is decoded); returns how many photos got it."""
        from .index import apply_word
        from .modelset import load_clip_only, load_tagger

        word = clean_label(word, "vocabulary word")
        settings = self.settings()
        loaded = models or getattr(self, "_model_set", None)
        clip = (
            loaded.clip
            if loaded is not None and loaded.clip is not None
            else load_clip_only(self.folder, settings, self.weights, device)
        )
        tagger = loaded.wait_for_tagger() if loaded is not None and loaded.clip is clip else load_tagger(clip)
        return apply_word(self.store, tagger, clip.model_id, word)

    def vocabulary(self) -> list[str]:
        return self.store.vocabulary()

    def cutout(
        self,
        path: str | Path,
        out: str | Path,
        subject: str | None = None,
        label: str | None = None,
        force: bool = False,
        segmenter: str | None = None,
        device: str | None = None,
        crop: bool = False,
    ):
        """Cut a box (by id or subject name), the best box with `label`, or the main
        subject out of a photo into an RGBA PNG, at full size or cropped to the subject
        (CutoutResult)."""

        return make_cutout(
            self.store,
            self.weights,
            self.settings(),
            self.photo(path),
            Path(out),
            subject,
            label,
            force,
            segmenter,
            device,
            crop,
        )

    def cutouts(
        self,
        photos: list[Photo],
        folder: str | Path,
        labels: frozenset[str] = frozenset(),
        crop: bool = False,
        segmenter: str | None = None,
        device: str | None = None,
        cancel=None,
    ):
        """Cut every subject of `photos` (boxes with one of `labels` when given) into
        `folder` under new unique names, never overwriting (Work[CutoutBatch])."""
        from .modelops import make_cutouts

        return make_cutouts(
            self.store,
            self.weights,
            self.settings(),
            photos,
            Path(folder),
            labels,
            crop,
            segmenter,
            device,
            cancel,
        )

    def search_cutouts(
        self,
        query: str,
        folder: str | Path,
        crop: bool = False,
        segmenter: str | None = None,
        device: str | None = None,
        limit: int | None = None,
        cancel=None,
    ):
        """cutouts() over the photos a search finds, the boxes picked by its has: labels
        (`has:dog` cuts out the dogs, not the people beside them). A filter-only search
        takes every match; free text ranks every photo, so it takes the first 50 (as
        `photoorg search` shows) unless `limit` says otherwise."""
        from .query import parse

        q = parse(query)
        if limit is None:
            limit = 50 if q.terms or q.similar else 1_000_000
        hits = self.search(query, limit=limit)
        return self.cutouts(
            [h.photo for h in hits], folder, query_labels(query), crop, segmenter, device, cancel
        )

    def watcher(self, on_notice=None, options=None):
        """A WatchService on this library's folders (not started: call start() or use
        it as a context manager). It opens its own connection in its own thread."""
        return WatchService(self.folder, Library, on_notice=on_notice, options=options)

    def missing(self) -> list[Photo]:
        """Photos whose files are gone from a reachable folder (kept until purged)."""
        return self.store.missing()

    def purge_plan(self) -> PurgePlan:
        """What `purge_missing` would remove now, each missing photo checked again on
        disk, with the tags and names it carries; and what it would keep, and why."""
        return plan_purge(self.store)

    def purge_missing(self, include_user_data: bool = False) -> int:
        """Forget the missing photos (and their tags and names): the only way photos
        leave the library. Each is checked again at this moment (its file still absent,
        its folder online on the same drive); photos carrying your own tags or names
        stay unless include_user_data. Journaled: `undo_purge` puts them back. Files on
        disk are never touched. Returns how many were removed."""
        plan = self.purge_plan()
        ids = [item.photo.id for item in plan.items if include_user_data or not item.user_data]
        return self.store.purge(ids)

    def undo_purge(self) -> int:
        """Put back the photos (rows, tags, names, boxes) the last purge removed; they
        come back as missing. Returns how many."""
        last = self.store.last_purge()
        if last is None:
            raise LibraryError("There is no purge to undo.")
        return len(self.store.restore_purge(last[0]))

    # -- reading -------------------------------------------------------------

    def status(self) -> Status:
        by_root = self.store.counts_by_root()
        unconfirmed = self.store.unconfirmed_counts()
        empty = dict.fromkeys(self.store.counts(), 0)
        roots = [
            RootStatus(r, by_root.get(r.id, empty), unconfirmed.get(r.id, 0)) for r in self.store.roots()
        ]
        return Status(self.folder, self.store.counts(), roots)

    def problems(self) -> list[Problem]:
        """Every photo that failed, and every file or folder a scan could not read."""
        found = [Problem(p.path, p.error or "unknown error") for p in self.store.errors()]
        found += [Problem(p.path, p.reason) for p in self.store.scan_problems()]
        return found

    def photo(self, path: str | Path) -> Photo:
        try:
            str(path).encode("utf-8")
        except UnicodeEncodeError:  # never indexed: scans skip such names
            raise LibraryError(
                f"{shown(str(path))} is not a photo in this library (its name is "
                "not valid UTF-8; rename the file to index it)."
            ) from None
        absolute = str(Path(path).expanduser().absolute())
        photo = self.store.photo_by_path(absolute) or self.store.photo_by_path(
            str(Path(path).expanduser().resolve(strict=False))
        )
        if photo is None:
            raise LibraryError(f"{path} is not a photo in this library.")
        return photo

    def thumbnail(self, photo: Photo) -> Path:
        return thumbnail(self.thumbs_dir, photo)

    def text_encoder(self):
        """The chosen CLIP model's text side, for free-text search (a SearchText: loaded
        at its first query, without torch once exported); None when it is not installed
        (search then matches tags, names and folder/file names only)."""
        from .models import random_weights_allowed
        from .modelset import SearchText

        loaded = getattr(self, "_model_set", None)
        if loaded is not None and loaded.clip is not None:
            return loaded.clip
        settings = self.settings()
        if self.weights.path(settings.clip) is None and not random_weights_allowed():
            return None
        cached = getattr(self, "_text_encoder", None)
        if cached is None or cached[0] != settings.clip:
            self._text_encoder = (settings.clip, SearchText(settings, self.weights))
        return self._text_encoder[1]

    def search(self, query: str, limit: int = 50, offset: int = 0) -> list:
        from .query import parse
        from .search import search

        encoder = self.text_encoder() if parse(query).terms else None
        return search(self.store, query, limit, offset=offset, text_encoder=encoder)

    # -- user data -----------------------------------------------------------

    def tag(self, path: str | Path, add: list[str] = (), remove: list[str] = ()) -> list[Tag]:
        add = [clean_label(word) for word in add]
        remove = [clean_label(word) for word in remove]  # as --add stored it
        photo = self.photo(path)
        with self.store.transaction():
            for word in add:
                self.store.add_user_tag(photo.id, word)
            for word in remove:
                if not self.store.remove_tag(photo.id, word):
                    raise LibraryError(f"{path} has no tag {word!r}.")
        return self.store.tags_of(photo.id)

    # -- browsing, people and pets (the GUI's reads and edits) -----------------

    def browse(self, root: Root | None = None, limit: int | None = None) -> list[int]:
        """Photo ids, newest first, of the whole library or one folder (offline too);
        the first `limit` only when given."""
        return self.store.browse_ids(root.id if root else None, limit)

    def photos(self, ids: list[int]) -> list[Photo]:
        return self.store.photos(ids)

    def tags_of(self, photo: Photo) -> list[Tag]:
        return self.store.tags_of(photo.id)

    def tag_counts(self) -> list[tuple[str, int]]:
        return self.store.tag_counts()

    def subjects(self) -> list:
        return self.store.subjects()

    def detections(self, photo: Photo) -> list:
        return self.store.detections_of(photo.id)

    def name_box(self, detection_id: int, name: str):
        """Name a box ("Ana", "Rex"); the photo is then found by `person:Ana`."""
        from .naming import NamingError, name_box

        try:
            return name_box(self.store, detection_id, name)
        except (NamingError, LabelError) as e:
            raise LibraryError(str(e)) from None

    def unname_box(self, detection_id: int) -> None:
        self.store.name_detection(detection_id, None)

    def suggestions(self, photo: Photo) -> list:
        """Unnamed boxes of this photo that look like a named subject."""
        from .naming import suggestions

        return suggestions(self.store, photo.id)

    def reject_suggestion(self, detection_id: int, subject_id: int) -> None:
        self.store.reject_suggestion(detection_id, subject_id)

    # -- faces of one photo (the viewer's and `photoorg face`'s) -----------------

    def faces(self, photo: Photo) -> list[PhotoFace]:
        """The photo's faces and pet likenesses, each with its name or suggestion."""
        from .photo_faces import photo_faces

        return photo_faces(self.store, photo.id)

    def name_face(self, face_id: int, name: str):
        from .photo_faces import name_face

        return name_face(self.store, face_id, name)

    def not_this_person(self, face_id: int) -> int:
        from .photo_faces import not_this_person

        return not_this_person(self.store, face_id)

    def draw_face(self, photo: Photo, box, name: str | None = None, model=None):
        """A face the finder missed, drawn by the user (box normalised to the upright
        photo); described by the face model when it is installed (or `model`)."""
        from .photo_faces import draw_face

        return draw_face(self.store, photo, box, model or self.face_model(), name)

    def remove_drawn_face(self, face_id: int) -> None:
        from .photo_faces import remove_drawn

        remove_drawn(self.store, face_id)

    def face_model(self):
        """The installed face model, loaded once; None when it is not installed (a drawn
        face is then a plain box until an index run with the model)."""
        settings = self.settings()
        names = (settings.face_landmarks, settings.face)
        key = (names, tuple(self.weights.path(n) is not None for n in names))
        if getattr(self, "_face_key", None) != key:
            from .models.faces import load_face_model

            try:
                self._face_model = load_face_model(self.weights, *names)
            except UserError:  # not installed, or dlib missing: said by the banner already
                self._face_model = None
            self._face_key = key
        return self._face_model
