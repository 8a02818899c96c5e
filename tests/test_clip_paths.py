"""CLIP's fast paths on real open_clip architectures with random weights (no CLIP
weights exist here): the text tower cut to the longest prompt, the text cache shared
by libraries, and the ONNX exports with their checks."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from photoorg.models import registry
from photoorg.models.vocabulary import builtin
from tests.conftest import TINY_CLIP, TINY_SPEC, register_tiny_clip

PROMPTS = [
    "a photo of a dog.",
    "a close-up photo of a birthday cake.",
    "a picture of people walking on a crowded beach at sunset.",
    "snow.",
    "x",
]


def _cos(a, b) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def test_text_cut_to_longest_prompt_equals_the_77_token_pass_on_vit_b_32():
    import open_clip
    import torch

    from photoorg.models.clip import can_trim_text, encode_text_trimmed, trim_tokens

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None).eval()
    tokens = open_clip.get_tokenizer("ViT-B-32")(PROMPTS)
    cut = trim_tokens(tokens)
    assert tokens.shape[1] == 77 and cut.shape[1] == 14  # the beach prompt: 11 words, ".", start, end
    with torch.inference_mode():
        full = model.encode_text(tokens).numpy()
        short = encode_text_trimmed(model, cut).numpy()
    assert can_trim_text(model)
    assert _cos(full, short).min() >= 0.99999
    assert np.abs(full - short).max() < 1e-3 * np.abs(full).max()


def test_mobileclip_text_tower_attends_both_ways_so_keeps_77_tokens():
    import open_clip

    from photoorg.models.clip import can_trim_text

    model = open_clip.create_model("MobileCLIP-S1", pretrained=None)
    assert can_trim_text(model) is False
    assert open_clip.get_model_config("MobileCLIP-S1")["text_cfg"]["no_causal_mask"] is True


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    """A fixed random tiny CLIP saved as a weights file, registered as 'clip-tiny'."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(3)
    model = open_clip.create_model(
        register_tiny_clip(tmp_path_factory.mktemp("configs"), "photoorg-tiny-vit")
    )
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    spec = registry.ModelSpec(*TINY_SPEC)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(registry.MODELS, spec.name, spec)
        yield path


def _library_with_tiny(tmp_path, name, tiny_file):
    from photoorg.library import Library
    from photoorg.settings import use_model

    lib = Library(tmp_path / name)
    lib.import_model("clip-tiny", tiny_file)
    use_model(lib.folder, "clip-tiny")
    return lib


def test_two_libraries_share_one_text_cache(tmp_path, tiny_file, monkeypatch):
    from photoorg.models.clip import ClipModel
    from photoorg.modelset import load_model_set, text_cache_dir

    monkeypatch.setenv("PHOTOORG_CACHE", str(tmp_path / "user-cache"))
    embedded = []
    original = ClipModel.embed_texts
    monkeypatch.setattr(
        ClipModel, "embed_texts", lambda self, texts: embedded.extend(texts) or original(self, texts)
    )
    first, second = (_library_with_tiny(tmp_path, n, tiny_file) for n in ("one", "two"))
    a = load_model_set(first.folder, first.settings(), first.weights, [])
    a.wait_for_tagger()  # the vocabulary is embedded on a background thread
    prompts = {p for tag in builtin() for p in tag.prompts()}
    counts = Counter(embedded)  # (the text export's check embeds a few probes of its own)
    assert {counts[p] for p in prompts} == {1}
    embedded.clear()
    b = load_model_set(second.folder, second.settings(), second.weights, [])
    b.wait_for_tagger()
    assert embedded == []  # the second library starts with the vocabulary embedded
    assert [p.name for p in text_cache_dir().iterdir()] == [a.tagger._cache.path.name]
    assert a.clip.weights_id == b.clip.weights_id != ""
    x = np.random.default_rng(0).standard_normal((3, a.clip.dim)).astype(np.float32)
    np.testing.assert_allclose(a.tagger.scores(x), b.tagger.scores(x), rtol=1e-5)
    assert not (first.folder / "cache" / "text").exists()


def test_cli_tokenizer_without_torch_gives_open_clips_ids():
    import open_clip

    from photoorg.models.cliptok import Tokenizer

    texts = [p for tag in builtin()[:200] for p in tag.prompts()] + [
        "Grandma's café — naïve 12,345 DOGS!!",
        "&amp;amp; 東京の夜景 🐶",
        "a " * 100,
        "",
        "don't  WON'T\tthey'll",
    ]
    np.testing.assert_array_equal(Tokenizer()(texts), open_clip.get_tokenizer("ViT-B-32")(texts).numpy())


@pytest.fixture(scope="module")
def exports_cache(tmp_path_factory):
    """One user cache for the library tests: the tiny model is exported once for them."""
    return tmp_path_factory.mktemp("user-cache")


def _indexed_library(tmp_path, tiny_file, monkeypatch, cache):
    from tests.conftest import write_photo

    monkeypatch.setenv("PHOTOORG_CACHE", str(cache))
    lib = _library_with_tiny(tmp_path, "lib", tiny_file)
    for i, colour in enumerate([(250, 10, 10), (10, 250, 10), (10, 10, 250), (240, 240, 240)]):
        write_photo(tmp_path / "photos" / f"p{i}.jpg", color=colour)
    from photoorg.progress import drive

    lib.add_roots([tmp_path / "photos"])
    drive(lib.scan())
    drive(lib.index())  # loads CLIP through torch once: the text tower is exported then
    return lib


_SEARCH = """
import json, sys
from photoorg.library import Library
from photoorg.models import registry
registry.MODELS["clip-tiny"] = registry.ModelSpec(*json.loads(sys.argv[3]))
lib = Library(sys.argv[1])
hits = lib.search(sys.argv[2], limit=int(sys.argv[4]))
encoder = lib.text_encoder()._encoder
print(json.dumps({"torch": "torch" in sys.modules, "open_clip": "open_clip" in sys.modules,
                  "encoder": type(encoder).__name__,
                  "hits": [[h.photo.path, h.score] for h in hits]}))
"""


def _search_process(lib, query, limit=10):
    import os
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _SEARCH, str(lib.folder), query, json.dumps(TINY_SPEC), str(limit)],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    ).stdout
    return json.loads(out.splitlines()[-1])


def test_search_process_encodes_text_with_the_onnx_export_and_never_imports_torch(
    tmp_path, tiny_file, monkeypatch, exports_cache
):
    from photoorg.models.clip import load_clip
    from photoorg.models.clip_onnx import export_dir, read_note

    lib = _indexed_library(tmp_path, tiny_file, monkeypatch, exports_cache)
    clip = load_clip(registry.MODELS["clip-tiny"], tiny_file, "cpu")  # torch: the reference
    note = read_note(export_dir(clip.weights_id) / "text.onnx")
    assert note["ok"] is True and note["min_cosine"] >= 0.9999
    assert note["model_id"] == clip.model_id == "open_clip:photoorg-tiny-vit:none"
    got = _search_process(lib, "a red square on a wall")
    assert got["torch"] is False and got["open_clip"] is False
    assert got["encoder"] == "QueryEncoder"
    from photoorg.search import search

    want = search(lib.store, "a red square on a wall", 10, text_encoder=clip)
    assert [p for p, _ in got["hits"]] == [h.photo.path for h in want] and want
    np.testing.assert_allclose([s for _, s in got["hits"]], [h.score for h in want], atol=2e-3)
    again = _search_process(lib, "a red square on a wall")  # answered from recent queries
    assert again["hits"] == got["hits"]


def test_a_query_answered_by_tags_alone_loads_no_text_encoder(
    tmp_path, tiny_file, monkeypatch, exports_cache
):
    lib = _indexed_library(tmp_path, tiny_file, monkeypatch, exports_cache)
    photos = lib.store.photos([1, 2])
    for photo in photos:
        lib.tag(photo.path, add=["sunset"])
    got = _search_process(lib, "sunset", limit=2)
    assert got["encoder"] == "NoneType" and got["torch"] is False
    assert sorted(p for p, _ in got["hits"]) == sorted(p.path for p in photos)
    assert [s for _, s in got["hits"]] == [3.0, 3.0]  # exact tier: 2 + a user tag's 1.0
    more = _search_process(lib, "sunset", limit=3)  # a third slot: similar-looking photos
    assert more["encoder"] == "QueryEncoder" and more["torch"] is False


_INDEX = """
import json, sys
from photoorg.library import Library
from photoorg.models import registry
from photoorg.progress import drive
registry.MODELS["clip-tiny"] = registry.ModelSpec(*json.loads(sys.argv[2]))
lib = Library(sys.argv[1])
drive(lib.scan())
drive(lib.index(precision="fp32"))
print(json.dumps({"path": lib.model_set(precision="fp32").clip_path.get("path"),
                  **{name: name in sys.modules for name in ("torch", "torchvision", "open_clip")}}))
"""


def test_index_after_the_exports_passed_never_imports_torch(tmp_path, tiny_file, monkeypatch, exports_cache):
    """Once the exports of a weights file passed their checks, an index process runs
    CLIP from them alone, and stores torch's embeddings (fp32: to the checks' tolerance)."""
    import subprocess
    import sys

    from photoorg.imaging import load_image
    from photoorg.models.clip import load_clip
    from tests.conftest import write_photo

    _indexed_library(tmp_path, tiny_file, monkeypatch, exports_cache)  # exports made, checked
    second = _library_with_tiny(tmp_path, "second", tiny_file)
    photos = [write_photo(tmp_path / "more" / f"q{i}.jpg", color=(30 * i, 90, 200)) for i in range(3)]
    second.add_roots([tmp_path / "more"])
    second.close()
    run = subprocess.run(
        [sys.executable, "-c", _INDEX, str(second.folder), json.dumps(TINY_SPEC)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.splitlines()[-1])
    assert got == {"path": "onnxruntime fp32", "torch": False, "torchvision": False, "open_clip": False}
    clip = load_clip(registry.MODELS["clip-tiny"], tiny_file, "cpu")
    from photoorg.library import Library

    store = Library(second.folder).store
    ids, _, stored = store.embeddings(clip.model_id)
    paths = {photo.id: photo.path for photo in store.photos(ids.tolist())}
    assert sorted(paths.values()) == sorted(map(str, photos))
    want = clip.embed_images([load_image(paths[i]) for i in ids.tolist()])
    assert _cos(stored, want).min() >= 0.9999


@pytest.fixture
def tiny_clip(tiny_file, tmp_path, monkeypatch):
    from photoorg.models.clip import load_clip

    monkeypatch.setenv("PHOTOORG_CACHE", str(tmp_path / "user-cache"))
    return load_clip(registry.MODELS["clip-tiny"], tiny_file, "cpu")


def _tags(clip) -> np.ndarray:
    tags = clip.embed_texts([t.prompts()[0] for t in builtin()[:60]])
    return tags / np.linalg.norm(tags, axis=1, keepdims=True)


def test_image_exports_are_made_once_per_weights_file(tiny_clip, tiny_file, monkeypatch):
    from photoorg.models import clip_onnx
    from photoorg.models.usercache import file_digest

    chosen = clip_onnx.choose_image_path(tiny_clip, "fp32", _tags(tiny_clip))
    folder = clip_onnx.export_dir(tiny_clip.weights_id)
    assert tiny_clip.weights_id == file_digest(tiny_file) and folder.name in tiny_clip.weights_id
    assert {p.name for p in folder.glob("image-*")} == {
        "image-fp32.onnx",
        "image-int8.onnx",
        "image-int8.json",
    }
    assert chosen["path"] == tiny_clip.image_path == "onnxruntime fp32"
    assert chosen["reason"] == "forced by --precision fp32" and chosen["probes"] == 24
    images = [im.resize((70, 50)) for im in clip_onnx.probe_images()[:4]]
    tensors = [tiny_clip.preprocess(im) for im in images]
    assert _cos(tiny_clip.embed_preprocessed(tensors), tiny_clip.embed_torch(tensors)).min() > 0.9999
    monkeypatch.setattr(clip_onnx, "_export", lambda *a: pytest.fail("exported again"))
    monkeypatch.setattr(clip_onnx, "check_int8", lambda *a, **k: pytest.fail("checked again"))
    again = clip_onnx.choose_image_path(tiny_clip, "auto", _tags(tiny_clip))
    assert again["mean_cosine"] == chosen["mean_cosine"]


def test_int8_export_keeps_7_bit_int8_weights_and_the_projection_in_fp32(tiny_clip):
    import onnx

    from photoorg.models import clip_onnx

    _, int8 = clip_onnx.export_image(tiny_clip)
    graph = onnx.load(str(int8)).graph
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    quantized = [w for name, w in weights.items() if name.endswith("_quantized")]
    assert {w.dtype for w in quantized} == {np.dtype(np.int8)}
    # 7 bits, symmetric: 255 * 64 * 2 stays under the int16 limit of the AVX2 kernel
    assert min(w.min() for w in quantized) >= -64 and max(w.max() for w in quantized) <= 64
    # Per channel: a scale per output column, not one per matrix.
    assert all(weights[n.input[4]].size > 1 for n in graph.node if n.op_type == "DynamicQuantizeMatMul")
    last = [n for n in graph.node if "MatMul" in n.op_type or n.op_type == "Gemm"][-1]
    assert last.op_type == "MatMul" and weights[last.input[1]].dtype == np.float32


def test_int8_export_runs_each_gelu_as_one_operator_and_an_older_recipe_is_remade(tiny_clip, monkeypatch):
    import onnx

    from photoorg.models import clip_onnx

    def ops(path):
        return Counter(n.op_type for n in onnx.load(str(path)).graph.node)

    fp32, int8 = clip_onnx.export_image(tiny_clip)
    layers = TINY_CLIP["vision_cfg"]["layers"]
    assert ops(int8)["Gelu"] == layers and ops(int8)["Erf"] == 0
    assert ops(fp32)["Erf"] == layers and ops(fp32)["Gelu"] == 0  # the reference stays as exported
    clip_onnx.choose_image_path(tiny_clip, "auto", _tags(tiny_clip))
    # An export checked under an older recipe is quantized and checked again, once.
    note = clip_onnx.read_note(int8)
    clip_onnx._write_note(int8, {**note, "scheme": "an older recipe"})
    int8.write_bytes(b"not this")
    checks, check_int8 = [], clip_onnx.check_int8

    def counted(*args, **kwargs):
        checks.append(1)
        return check_int8(*args, **kwargs)

    monkeypatch.setattr(clip_onnx, "check_int8", counted)
    clip_onnx.choose_image_path(tiny_clip, "auto", _tags(tiny_clip))
    clip_onnx.choose_image_path(tiny_clip, "auto", _tags(tiny_clip))
    assert checks == [1] and ops(int8)["Gelu"] == layers
    assert clip_onnx.read_note(int8)["scheme"] == clip_onnx.INT8_SCHEME


def test_int8_falls_back_to_fp32_when_its_check_fails(tiny_clip):
    from photoorg.models import clip_onnx

    chosen = clip_onnx.choose_image_path(tiny_clip, "auto", _tags(tiny_clip), min_cosine=1.01)
    assert chosen["ok"] is False and tiny_clip.image_path == "onnxruntime fp32"
    assert chosen["reason"] == (
        f"int8 differs from fp32 too much: mean cosine {chosen['mean_cosine']:.4f} < 1.01"
    )
    note = clip_onnx.read_note(clip_onnx.export_dir(tiny_clip.weights_id) / "image-int8.onnx")
    assert note["ok"] is False and note["mean_cosine"] == chosen["mean_cosine"]


def test_int8_forced_runs_even_when_its_check_failed(tiny_clip, monkeypatch):
    from photoorg.models import clip_onnx
    from photoorg.models.onnxrt import ort_session

    monkeypatch.setattr("os.cpu_count", lambda: 2)  # int8 runs as two sessions side by side
    chosen = clip_onnx.choose_image_path(tiny_clip, "int8", _tags(tiny_clip), min_cosine=1.01, min_top5=1.01)
    assert chosen["ok"] is False and chosen["reason"] == "forced by --precision int8"
    assert tiny_clip.image_path == "onnxruntime int8"
    tensors = [tiny_clip.preprocess(im) for im in clip_onnx.probe_images()[:3]]
    int8 = ort_session(clip_onnx.export_dir(tiny_clip.weights_id) / "image-int8.onnx", "cpu")
    # Activations are quantized per run, so the rows are those of runs on the two shares.
    halves = np.concatenate(
        [clip_onnx._run_image(int8, tensors[:2]), clip_onnx._run_image(int8, tensors[2:])]
    )
    np.testing.assert_allclose(tiny_clip.embed_preprocessed(tensors), halves, atol=1e-6)


def test_int8_check_figures_on_probes_and_library_photos(tiny_clip, tmp_path):
    from photoorg.models import clip_onnx
    from tests.conftest import write_photo

    photos = [write_photo(tmp_path / f"p{i}.jpg", color=(40 * i, 200, 90)) for i in range(3)]
    tags = _tags(tiny_clip)
    chosen = clip_onnx.choose_image_path(tiny_clip, "auto", tags, photos + [tmp_path / "gone.jpg"])
    assert chosen["probes"] == 27
    assert 0.9 < chosen["mean_cosine"] <= 1.0 and 0 <= chosen["top5_agreement"] <= 1
    passed = chosen["mean_cosine"] >= 0.995 and chosen["top5_agreement"] >= 0.95
    assert chosen["ok"] is passed
    assert tiny_clip.image_path == ("onnxruntime int8" if passed else "onnxruntime fp32")


def test_models_list_shows_the_cpu_path_and_its_check(
    tmp_path, tiny_file, monkeypatch, exports_cache, capsys
):
    from photoorg.cli import main
    from photoorg.models import clip_onnx

    lib = _indexed_library(tmp_path, tiny_file, monkeypatch, exports_cache)
    check = clip_onnx.read_note(clip_onnx.export_dir(lib.model_set().clip.weights_id) / "image-int8.onnx")
    assert check["probes"] == 24 + 4  # the fixed probes and the library's four photos
    capsys.readouterr()
    assert main(["--library", str(lib.folder), "models", "list"]) == 0
    out = capsys.readouterr().out
    runs = "int8" if check["ok"] else "fp32"
    assert (
        f"    CPU image path: onnxruntime {runs}; int8 check on 28 probes: mean cosine "
        f"{check['mean_cosine']:.4f} (>= 0.995), top-5 tag agreement "
        f"{check['top5_agreement']:.3f} (>= 0.95)"
    ) in out
    assert "    search text: onnxruntime text tower (min cosine " in out
    assert "to torch, >= 0.9999)\n" in out
    assert main(["--library", str(lib.folder), "models", "list", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed["clip-tiny"]["cpu_path"]["int8_check"]["mean_cosine"] == check["mean_cosine"]
    assert listed["yolox-nano"]["cpu_path"] is None


def test_precision_flag_and_setting(tmp_path, tiny_file, monkeypatch, exports_cache, capsys):
    from photoorg.cli import main

    lib = _indexed_library(tmp_path, tiny_file, monkeypatch, exports_cache)
    for precision in ("int8", "fp32"):
        models = lib.model_set(precision=precision)
        models.wait_for_tagger()  # CLIP's CPU path is chosen beside the vocabulary
        assert models.clip.image_path == f"onnxruntime {precision}"
    (lib.folder / "settings.json").write_text('{"clip": "clip-tiny", "precision": "int4"}')
    assert main(["--library", str(lib.folder), "index"]) != 0
    assert "precision 'int4' is not one of auto, fp32, int8." in capsys.readouterr().err


def test_importing_the_chosen_clip_model_prepares_it(tmp_path, tiny_file, monkeypatch, exports_cache, capsys):
    from photoorg.cli import main
    from photoorg.models import clip_onnx
    from photoorg.models.usercache import file_digest
    from photoorg.settings import use_model

    monkeypatch.setenv("PHOTOORG_CACHE", str(exports_cache))
    folder = tmp_path / "lib"
    assert main(["--library", str(folder), "models", "list"]) == 0
    use_model(folder, "clip-tiny")
    capsys.readouterr()
    assert main(["--library", str(folder), "models", "import", "clip-tiny", str(tiny_file)]) == 0
    out = capsys.readouterr().out
    assert "Preparing CLIP for this machine" in out
    assert "CLIP's image tower runs on onnxruntime " in out
    exports = clip_onnx.export_dir(file_digest(tiny_file))
    assert clip_onnx.read_note(exports / "text.onnx")["ok"] is True
    assert (exports / "image-int8.json").is_file()


SHARED = Path(os.environ.get("PHOTOORG_SHARED", Path(__file__).resolve().parents[2] / "shared"))
COCO = SHARED / "photos" / "coco-train-mini" / "images"


def _odd_pictures() -> list:
    """Probe pictures in shapes and modes that exercise the resize rounding and crop."""
    from PIL import Image

    from photoorg.models import clip_onnx

    base = clip_onnx.probe_images()[:6]
    shapes = [(70, 50), (50, 70), (256, 256), (300, 257), (1001, 31), (257, 600)]
    images = [im.resize(shape) for im, shape in zip(base, shapes)]
    return [*images, images[0].convert("L"), images[3].convert("RGBA"), Image.new("P", (90, 400))]


@pytest.mark.parametrize("name", ["clip-vit-b-32-256-datacomp", "mobileclip-s1"])
def test_numpy_preprocessing_gives_open_clips_pixels(name):
    """The torch-free index path repeats open_clip's eval transform in PIL + numpy: the
    same float32 pixels on odd shapes and modes, and on real photos where ../shared is."""
    import open_clip
    from PIL import Image

    from photoorg.models.clip_onnx import pil_preprocess, transform_recipe

    spec = registry.MODELS[name]
    pre = open_clip.get_pretrained_cfg(spec.arch, spec.pretrained_tag)
    transform = open_clip.image_transform(
        256, False, pre["mean"], pre["std"], pre.get("resize_mode"), pre.get("interpolation")
    )
    recipe = transform_recipe(transform)
    assert recipe["resize"] == [256] and recipe["crop"] == [256, 256]
    assert recipe["interpolation"] == ("bilinear" if name == "mobileclip-s1" else "bicubic")
    photos = [Image.open(p) for p in sorted(COCO.glob("*.jpg"))[:12]] if COCO.is_dir() else []
    for image in _odd_pictures() + photos:
        want = transform(image.convert("RGB")).numpy()
        got = pil_preprocess(image, recipe)
        assert got.dtype == np.float32 and got.shape == want.shape == (3, 256, 256)
        assert np.abs(got - want).max() <= 1e-6


def test_transforms_not_repeated_in_numpy_keep_torch():
    """A transform with a step pil_preprocess does not do gives no recipe: torch runs."""
    import open_clip
    from torchvision import transforms as T

    from photoorg.models.clip_onnx import transform_recipe

    plain = open_clip.image_transform(224, False)
    resize, crop, *rest = plain.transforms
    assert transform_recipe(plain)["crop"] == [224, 224]
    assert transform_recipe(T.Compose([resize, crop, T.Grayscale(3), *rest])) is None
    assert transform_recipe(T.Compose([T.Resize(200), crop, *rest])) is None  # would pad


def test_preparing_a_model_says_our_lines_only(tmp_path, tiny_file, monkeypatch, capsys):
    """The exporter's progress lines, its dynamic_axes advice and quantize_dynamic's
    root-logger warning (which would also leave a stderr handler on the root logger)
    are for model authors, not for a user importing a model."""
    import logging
    import warnings

    from photoorg.cli import main
    from photoorg.settings import use_model

    monkeypatch.setenv("PHOTOORG_CACHE", str(tmp_path / "fresh-cache"))  # nothing exported yet
    folder = tmp_path / "lib"
    assert main(["--library", str(folder), "models", "list"]) == 0
    use_model(folder, "clip-tiny")
    capsys.readouterr()
    handlers = list(logging.getLogger().handlers)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["--library", str(folder), "models", "import", "clip-tiny", str(tiny_file)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[:2] == [
        f"Installed {folder / 'models' / 'clip-tiny.safetensors'}",
        "Preparing CLIP for this machine (vocabulary, CPU exports and their check; once per weights file)...",
    ]
    assert len(lines) == 3 and lines[2].startswith("CLIP's image tower runs on onnxruntime ")
    assert err == ""
    assert [str(w.message) for w in caught if "dynamic_axes" in str(w.message)] == []
    assert logging.getLogger().handlers == handlers
