"""Model commands: index, models list/download/import/use, vocab add/list, cutout."""

from __future__ import annotations

import json
import sys

from ..progress import drive
from ..settings import PRECISIONS
from . import open_library
from .progress import ProgressPrinter

DEVICES = ("auto", "cpu", "cuda", "mps")


def register(commands) -> None:
    index = commands.add_parser("index", help="process pending photos (tags, boxes, embeddings)")
    _device_option(index)
    index.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="CLIP's image tower on the CPU: int8 (fastest), fp32, or auto "
        "(int8 only when it passed its check against fp32; the default, "
        "or the library's precision setting)",
    )
    index.add_argument(
        "--batch-size",
        type=int,
        default=16,
        metavar="N",
        help="photos per model batch and per database transaction (default 16)",
    )
    index.set_defaults(run=cmd_index)

    models = commands.add_parser("models", help="list, download, import and choose models")
    sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="every model: role, installed or not, size, licence")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=cmd_models_list)
    download = sub.add_parser(
        "download",
        help="fetch weights from where their authors publish them (default: the chosen models not installed)",
    )
    download.add_argument("name", nargs="?", metavar="NAME")
    download.set_defaults(run=cmd_models_download)
    imp = sub.add_parser("import", help="install a weights file you already have (no internet)")
    imp.add_argument("name", metavar="NAME")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument(
        "--allow-checksum-mismatch",
        "--allow-mismatch",
        dest="allow_mismatch",
        action="store_true",
        help="accept a file whose checksum differs from the published one "
        "(another export of the same weights)",
    )
    imp.set_defaults(run=cmd_models_import)
    use = sub.add_parser("use", help="choose the model for its role (clip, detector, segmenter)")
    use.add_argument("name", metavar="NAME")
    use.set_defaults(run=cmd_models_use)

    vocab = commands.add_parser("vocab", help="your own tag words, applied to every photo")
    vsub = vocab.add_subparsers(dest="vocab_command", metavar="ACTION", required=True)
    add = vsub.add_parser(
        "add", help="add a tag word (applied from stored embeddings, no photo is decoded again)"
    )
    add.add_argument("word", nargs="+", metavar="WORD")
    _device_option(add)
    add.set_defaults(run=cmd_vocab_add)
    vlist = vsub.add_parser("list", help="the words you added")
    vlist.set_defaults(run=cmd_vocab_list)

    cutout = commands.add_parser(
        "cutout",
        help="cut a subject out of a photo into an RGBA PNG, or every subject a search finds into a folder",
    )
    cutout.add_argument("photo", metavar="PHOTO", nargs="?")
    which = cutout.add_mutually_exclusive_group()
    which.add_argument(
        "--subject", metavar="ID", help="a box id (as listed when a box is not found) or a subject's name"
    )
    which.add_argument("--label", metavar="LABEL", help="the best box with this label, e.g. dog")
    which.add_argument(
        "--query",
        metavar="SEARCH",
        help="cut out every subject of a search (has:dog: its dogs) into the "
        "folder -o names, under new names; nothing is overwritten",
    )
    cutout.add_argument("-o", "--output", required=True, metavar="OUT.png|FOLDER")
    cutout.add_argument(
        "--crop",
        action="store_true",
        help="keep only the subject and a small margin, not the whole photo canvas",
    )
    cutout.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="with --query: at most N photos (default: every match of a "
        "filter search, the first 50 of a free-text one)",
    )
    cutout.add_argument("--force", action="store_true", help="overwrite OUT.png if it exists")
    cutout.add_argument("--segmenter", metavar="NAME", help="segmenter model (default: settings)")
    _device_option(cutout)
    cutout.set_defaults(run=cmd_cutout)


def _device_option(parser) -> None:
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default=None,
        help="where models run (default: the library's setting, auto)",
    )


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


# -- index ------------------------------------------------------------------------


def run_index_and_report(
    lib, device: str | None = None, batch_size: int = 16, precision: str | None = None
) -> int:
    """Index with a progress bar, then the outcome; shared with `add` and `scan`."""

    bar = ProgressPrinter()
    report = drive(lib.index(batch_size=batch_size, device=device, precision=precision), bar)
    bar.close()
    for path, reason in report.errors:
        print(f"  {path}: {reason}")
    print(
        f"indexed {report.indexed} photos, {report.failed} failed"
        + (" (cancelled)" if report.cancelled else "")
    )
    for sentence in report.waiting:
        print(f"photoorg: {sentence}", file=sys.stderr)
    return 0


def cmd_index(args) -> int:
    if args.batch_size < 1:
        print("photoorg: --batch-size must be at least 1.", file=sys.stderr)
        return 2
    with open_library(args) as lib:
        return run_index_and_report(lib, args.device, args.batch_size, args.precision)


# -- models ---------------------------------------------------------------------------


def _cpu_paths(choices, precision: str) -> dict:
    """What runs each installed CLIP model on the CPU, with its checks' figures."""
    from ..models.clip_onnx import describe

    return {
        c.status.name: describe(c.status.path, precision)
        for c in choices
        if c.status.role == "clip" and c.status.installed
    }


def _face_runtimes(choices) -> dict:
    """What computes each installed face descriptor model (dlib or its checked export)."""
    from ..models.face_onnx import describe

    return {
        c.status.name: describe(c.status.path)
        for c in choices
        if c.status.role == "face" and c.status.installed
    }


def cmd_models_list(args) -> int:
    with open_library(args) as lib:
        choices = lib.models()
        paths = _cpu_paths(choices, lib.settings().precision)
        runtimes = _face_runtimes(choices)
    if args.json:
        json.dump(
            [
                {
                    "name": c.status.name,
                    "role": c.status.role,
                    "installed": c.status.installed,
                    "size_bytes": c.status.size,
                    "licence": c.status.licence,
                    "chosen": c.chosen,
                    "default": c.status.is_default,
                    "verified": c.status.verified,
                    "summary": c.status.summary,
                    "cpu_path": paths.get(c.status.name),
                    "runtime": runtimes.get(c.status.name),
                }
                for c in choices
            ],
            sys.stdout,
            indent=2,
        )
        print()
        return 0
    for c in choices:
        s = c.status
        mark = "*" if c.chosen else " "
        state = "installed" if s.installed else "not installed"
        if s.installed and s.verified is False:
            state += " (checksum not verified)"
        print(f"{mark} {s.name:28} {s.role:9} {state:36} {_mib(s.size):>10}  {s.licence}")
        if s.summary:
            print(f"    {s.summary}")
        if s.name in paths:
            print(f"    CPU image path: {paths[s.name]['image']}")
            print(f"    search text: {paths[s.name]['search']}")
        if s.name in runtimes:
            print(f"    descriptor: {runtimes[s.name]}")
    print("* = used by this library; change with `photoorg models use NAME`.")
    return 0


def _prepare_clip(lib, names: list[str]) -> None:
    """A newly installed CLIP model this library uses is readied now, once per weights
    file (vocabulary embeddings, the ONNX exports and the int8 check), so that the
    first index and the first search do not wait for it."""
    if lib.settings().clip not in names:
        return
    print(
        "Preparing CLIP for this machine (vocabulary, CPU exports and their check; once per weights file)...",
        flush=True,
    )
    models = lib.model_set()
    models.wait_for_tagger()  # the CPU path is chosen beside the vocabulary
    chosen = models.clip_path
    reason = f" ({chosen['reason']})" if chosen.get("reason") else ""
    print(f"CLIP's image tower runs on {chosen.get('path', 'torch')}{reason}.")


def cmd_models_download(args) -> int:
    with open_library(args) as lib:
        paths = drive(lib.download_models(args.name), ProgressPrinter(amount=lambda n: _mib(int(n))))
        if not paths:
            print("Every chosen model is installed already.")
        for path in paths:
            print(f"Installed {path}")
        _prepare_clip(lib, [p.name.removesuffix(".safetensors") for p in paths])
    return 0


def cmd_models_import(args) -> int:
    from ..models.registry import expected_sha256, spec_for

    with open_library(args) as lib:
        path = lib.import_model(args.name, args.file, allow_mismatch=args.allow_mismatch)
        verified = next(c.status.verified for c in lib.models() if c.status.name == args.name)
        print(f"Installed {path}")
        if not verified and expected_sha256(spec_for(args.name)) is not None:
            print(
                f"photoorg: note: {args.file} does not match the published checksum of "
                f"{args.name!r}; it was imported because you allowed it.",
                file=sys.stderr,
            )
        _prepare_clip(lib, [args.name])
    return 0


def cmd_models_use(args) -> int:
    from ..models.registry import spec_for

    with open_library(args) as lib:
        lib.use_model(args.name)
        installed = lib.weights.path(args.name) is not None
    role = spec_for(args.name).role
    print(
        f"This library now uses {args.name} as its {role} model; the next "
        f"`photoorg index` re-processes only what it changes."
    )
    if not installed:
        print(f"It is not installed yet: run `photoorg models download {args.name}`.")
    return 0


# -- vocabulary ---------------------------------------------------------------------------


def cmd_vocab_add(args) -> int:
    word = " ".join(args.word)
    with open_library(args) as lib:
        tagged = lib.add_vocabulary(word, device=args.device)
        total = lib.status().counts.get("indexed", 0)
    print(
        f"Added {word!r}: {tagged} of {total} indexed photos carry it "
        f"(from their stored embeddings; photos indexed later get it too)."
    )
    return 0


def cmd_vocab_list(args) -> int:
    with open_library(args) as lib:
        words = lib.vocabulary()
    for word in words:
        print(word)
    if not words:
        print("No words of your own yet: add one with `photoorg vocab add WORD`.")
    return 0


# -- cut-out --------------------------------------------------------------------------------


def cmd_cutout(args) -> int:
    from ..library import LibraryError

    if args.query is not None:
        return _cutout_search(args)
    if args.photo is None:
        raise LibraryError(
            "Name the PHOTO to cut out, or give --query SEARCH to cut out every subject a search finds."
        )
    with open_library(args) as lib:
        result = lib.cutout(
            args.photo,
            args.output,
            subject=args.subject,
            label=args.label,
            force=args.force,
            segmenter=args.segmenter,
            device=args.device,
            crop=args.crop,
        )
    what = "the main subject"
    if result.detection is not None:
        d = result.detection
        what = f"box #{d.id} ({d.subject_name or d.label})"
    print(f"Wrote {result.path}: {what}, {result.size[0]}x{result.size[1]} RGBA (mask by {result.model}).")
    return 0


def _cutout_search(args) -> int:
    from ..library import LibraryError
    from ..progress import drive

    if args.photo is not None:
        raise LibraryError(
            f"Give either a PHOTO or --query, not both ({args.photo!r} and --query {args.query!r})."
        )
    if args.force:
        raise LibraryError(
            "--query never overwrites: each cut-out gets a new name, so --force does not apply."
        )
    if args.limit is not None and args.limit < 1:
        raise LibraryError(f"--limit {args.limit}: give how many photos to cut out, 1 or more.")
    with open_library(args) as lib:
        printer = ProgressPrinter()
        try:
            batch = drive(
                lib.search_cutouts(
                    args.query,
                    args.output,
                    crop=args.crop,
                    segmenter=args.segmenter,
                    device=args.device,
                    limit=args.limit,
                ),
                printer,
            )
        finally:
            printer.close()
    for path, reason in batch.failed:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    if not batch.written and not batch.failed:
        print(f"No subjects to cut out: nothing matches {args.query!r}.")
        return 0
    print(
        f"Wrote {len(batch.written)} cut-outs into {args.output}"
        + (f"; {len(batch.failed)} failed." if batch.failed else ".")
    )
    return 1 if batch.failed else 0
