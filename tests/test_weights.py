"""WeightStore and the model registry, against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading
from pathlib import Path

import pytest

from photoorg import models
from photoorg.models import registry
from photoorg.models.registry import (
    ChecksumMismatch,
    DownloadFailed,
    ModelMissing,
    ModelSpec,
    UnknownModel,
    WeightStore,
)
from photoorg.progress import drive

PAYLOAD = os.urandom(3 * (1 << 20) + 12345)  # more than one download chunk
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    ranges: list[str | None] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.ranges.append(self.headers.get("Range"))
        if self.path == "/weights.bin":
            self._serve_range() if self.headers.get("Range") else self._send(200, PAYLOAD)
        elif self.path == "/plain.bin":  # a server that ignores Range, like many mirrors
            self._send(200, PAYLOAD)
        elif self.path == "/truncated.bin":  # promises everything, sends a third, hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 3])
            self.wfile.flush()
            self.close_connection = True
        else:
            self._send(404, b"not here")

    def _serve_range(self):
        start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
        body = PAYLOAD[start:]
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def spec(monkeypatch, server):
    spec = ModelSpec(
        "test-clip",
        "clip",
        "open_clip",
        "ViT-B-32",
        f"{server}/weights.bin",
        DIGEST,
        len(PAYLOAD),
        "MIT",
        "test-clip.safetensors",
        "laion2b_s34b_b79k",
    )
    monkeypatch.setitem(registry.MODELS, spec.name, spec)
    _Handler.ranges.clear()
    return spec


@pytest.fixture
def store(tmp_path):
    return WeightStore(tmp_path / "models")


def _leftovers(store: WeightStore) -> list[str]:
    return sorted(p.name for p in store.root.iterdir()) if store.root.exists() else []


def test_download_reports_progress_checks_and_installs(store, spec):
    calls = []
    path = store.download(spec.name, progress=lambda done, total: calls.append((done, total)))
    assert path.read_bytes() == PAYLOAD
    assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and len(calls) > 2
    assert store.require(spec.name) == path
    row = next(r for r in store.status() if r.name == spec.name)
    assert row.installed and row.verified and row.size == len(PAYLOAD)
    assert _leftovers(store) == ["test-clip.safetensors", "test-clip.safetensors.json"]


def test_library_download_is_work_the_cli_and_gui_drive_and_can_stop(tmp_path, spec):
    from photoorg.library import Library

    with Library(tmp_path / "lib") as lib:
        work = lib.download_models(spec.name)
        first = next(work)
        assert (first.stage, first.done, first.total) == ("download test-clip", 0, len(PAYLOAD))
        next(work)
        work.close()  # Cancel: the bytes so far stay in the .part file for the next run
        assert _leftovers(lib.weights) == ["test-clip.safetensors.part"]
        events = []
        paths = drive(lib.download_models(spec.name), events.append)
        assert paths == [lib.weights.path(spec.name)] and paths[0].read_bytes() == PAYLOAD
        assert (events[-1].done, events[-1].total) == (len(PAYLOAD), len(PAYLOAD))
        assert _Handler.ranges[-1] is not None  # it continued the part file


def test_checksum_mismatch_is_refused_and_part_removed(store, spec, monkeypatch):
    monkeypatch.setitem(registry.MODELS, spec.name, ModelSpec(**{**spec.__dict__, "sha256": "0" * 64}))
    with pytest.raises(ChecksumMismatch, match="does not match"):
        store.download(spec.name)
    assert store.path(spec.name) is None
    assert _leftovers(store) == []


def test_interrupted_download_leaves_no_weights_then_resumes(store, spec, server):
    with pytest.raises(DownloadFailed, match="photoorg models import test-clip FILE"):
        store.download(spec.name, url=f"{server}/truncated.bin")
    assert store.path(spec.name) is None
    part = store.root / "test-clip.safetensors.part"
    assert 0 < part.stat().st_size < len(PAYLOAD)
    path = store.download(spec.name)
    assert path.read_bytes() == PAYLOAD
    assert _Handler.ranges[-1] == f"bytes={len(PAYLOAD) // 3}-"
    assert not part.exists()


def test_server_without_range_support_restarts_cleanly(store, spec, server):
    store.root.mkdir(parents=True)
    (store.root / "test-clip.safetensors.part").write_bytes(b"stale bytes")
    assert store.download(spec.name, url=f"{server}/plain.bin").read_bytes() == PAYLOAD


def test_unreachable_host_fails_fast_with_one_sentence(store, spec):
    with socket.socket() as s:  # a port nobody listens on: refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadFailed) as err:
        store.download(spec.name, url=f"http://127.0.0.1:{port}/weights.bin")
    message = str(err.value)
    assert "test-clip" in message and "photoorg models import test-clip FILE" in message
    assert message.count(". ") == 0 and "\n" not in message
    assert store.path(spec.name) is None


def test_http_error_is_a_download_failure(store, spec, server):
    with pytest.raises(DownloadFailed, match="404"):
        store.download(spec.name, url=f"{server}/missing.bin")


def test_import_file_checks_the_published_checksum(store, spec, tmp_path):
    good = tmp_path / "good.bin"
    good.write_bytes(PAYLOAD)
    bad = tmp_path / "bad.bin"
    bad.write_bytes(PAYLOAD[:-1] + b"x")
    with pytest.raises(ChecksumMismatch, match="--allow-mismatch"):
        store.import_file(spec.name, bad)
    assert store.path(spec.name) is None
    assert store.import_file(spec.name, good).read_bytes() == PAYLOAD
    assert next(r for r in store.status() if r.name == spec.name).verified


def test_import_file_with_mismatch_flag_is_kept_as_unverified(store, spec, tmp_path):
    other = tmp_path / "other-export.onnx"
    other.write_bytes(b"a different export of the same weights")
    assert store.import_file(spec.name, other, allow_mismatch=True).read_bytes() == other.read_bytes()
    row = next(r for r in store.status() if r.name == spec.name)
    assert row.installed and row.verified is False


def test_import_of_a_missing_file_is_one_sentence(store, spec, tmp_path):
    with pytest.raises(models.ModelError, match="not a readable file"):
        store.import_file(spec.name, tmp_path / "nope.bin")


def test_model_missing_names_the_model_and_both_ways(store):
    with pytest.raises(ModelMissing) as err:
        store.require("yolox-nano")
    message = str(err.value)
    assert "yolox-nano" in message
    assert "photoorg models download yolox-nano" in message
    assert "photoorg models import yolox-nano FILE" in message
    assert message.endswith(".") and message.count(". ") == 0


def test_unknown_model_is_refused(store):
    with pytest.raises(UnknownModel, match="no model called"):
        store.path("clip-imaginary")


def test_registry_entries_are_complete():
    for spec in registry.MODELS.values():
        assert spec.url.startswith("https://") and spec.size_bytes > 0 and spec.licence
        assert spec.role in registry.ROLES and spec.summary
        # open_clip fetches from the hub by revision; every other file has a known digest.
        assert (registry.expected_sha256(spec) is None) == (spec.backend == "open_clip"), spec.name
    for role, name in registry.DEFAULTS.items():
        assert registry.MODELS[name].role == role
    names = [s.filename for s in registry.MODELS.values()]
    assert len(names) == len(set(names))
    assert registry.expected_sha256(registry.MODELS["fasterrcnn-mobilenet-v3"]) == "fb6a3cc7"


def test_clip_entries_match_open_clip_pretrained_configs():
    import open_clip

    for spec in registry.MODELS.values():
        if spec.backend == "open_clip":
            cfg = open_clip.get_pretrained_cfg(spec.arch, spec.pretrained_tag)
            repo = cfg["hf_hub"].rstrip("/")
            assert spec.url == f"https://huggingface.co/{repo}/resolve/main/open_clip_model.safetensors"


def test_torchvision_entries_match_weight_enums():
    from torchvision.models import get_model_weights

    for spec in registry.MODELS.values():
        if spec.backend == "torchvision":
            weights = get_model_weights(spec.arch).DEFAULT
            assert weights.url == spec.url
            assert abs(weights.meta["_file_size"] * 2**20 - spec.size_bytes) < 2**20 / 1000


def test_load_refuses_random_weights_unless_allowed(store, monkeypatch):
    monkeypatch.delenv(models.RANDOM_ENV, raising=False)
    with pytest.raises(ModelMissing, match="clip-vit-b-32-laion2b"):
        models.load("clip", "clip-vit-b-32-laion2b", store=store)
    with pytest.raises(ModelMissing):
        models.load("clip", store=store)  # the default, too
    assert not models.random_weights_allowed()
    monkeypatch.setenv(models.RANDOM_ENV, "1")
    assert models.random_weights_allowed()


def test_load_checks_role_and_name(store):
    with pytest.raises(models.ModelError, match="is a detector, not a clip"):
        models.load("clip", "yolox-nano", store=store, allow_random=True)
    with pytest.raises(models.ModelError, match="Unknown model role"):
        models.load("captioner", store=store)
    with pytest.raises(UnknownModel):
        models.load("clip", "clip-imaginary", store=store)


def test_importing_the_package_stays_light():
    import subprocess
    import sys

    code = (
        "import sys, photoorg.models, photoorg.models.tagging;"
        "heavy = {'torch', 'open_clip', 'torchvision', 'onnxruntime'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_weight_files_live_where_the_store_says(tmp_path):
    store = WeightStore(tmp_path)
    assert store.path("u2netp") is None
    (tmp_path / "u2netp.onnx").write_bytes(b"x")
    assert store.path("u2netp") == Path(tmp_path / "u2netp.onnx")
