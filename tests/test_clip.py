"""ClipModel on randomly initialised real open_clip architectures (no weights exist here)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from photoorg import models
from photoorg.models.device import DeviceUnavailable, pick_device
from tests.conftest import TINY_SPEC, register_tiny_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    import torch

    from photoorg.models import registry

    register_tiny_clip(tmp_path_factory.mktemp("configs"), "photoorg-tiny-vit")
    spec = registry.ModelSpec(*TINY_SPEC)
    torch.manual_seed(0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(registry.MODELS, spec.name, spec)
        store = models.WeightStore(tmp_path_factory.mktemp("models"))
        yield models.load("clip", "clip-tiny", store=store, device="cpu", allow_random=True)


def _images(n: int) -> list[Image.Image]:
    rng = np.random.default_rng(1)
    sizes = [(64, 48), (40, 90), (120, 80), (33, 33)]
    modes = ["RGB", "L", "RGBA", "RGB"]
    return [
        Image.fromarray(rng.integers(0, 255, sizes[i % 4][::-1] + (3,), np.uint8)).convert(modes[i % 4])
        for i in range(n)
    ]


def test_random_model_is_marked_and_described(clip):
    assert clip.model_id == "open_clip:photoorg-tiny-vit:none+random"
    assert clip.dim == 32 and clip.image_size == 64
    assert clip.logit_scale == pytest.approx(1 / 0.07, rel=1e-4)  # open_clip's initial value


def test_real_vit_b_32_architecture(tmp_path):
    import torch

    torch.manual_seed(0)
    store = models.WeightStore(tmp_path)
    real = models.load("clip", "clip-vit-b-32-laion2b", store=store, device="cpu", allow_random=True)
    assert real.model_id == "open_clip:ViT-B-32:laion2b_s34b_b79k+random"
    assert real.dim == 512 and real.image_size == 224
    out = real.embed_images(_images(1))
    assert out.shape == (1, 512)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_fp16_weights_take_fp16_input(tmp_path):
    """open_clip's fp16 (what CUDA runs) leaves the class embedding fp32: the input must
    follow the first convolution, or the forward fails (as it did on the first GPU run)."""
    import open_clip
    import torch

    from photoorg.models.clip import ClipModel

    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", precision="fp16")
    assert next(model.parameters()).dtype == torch.float32  # the trap
    clip = ClipModel(model.eval(), preprocess, open_clip.get_tokenizer("ViT-B-32"), "cpu", "test:fp16")
    out = clip.embed_images(_images(2))
    assert out.dtype == np.float32 and out.shape == (2, 512)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-3)


def test_image_embeddings_are_unit_float32_rows(clip):
    out = clip.embed_images(_images(3))
    assert out.shape == (3, clip.dim) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(out[0], out[1])


def test_batch_of_eight_equals_eight_single_runs(clip):
    images = _images(8)
    batched = clip.embed_images(images)
    single = np.concatenate([clip.embed_images([im]) for im in images])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_preprocessed_tensors_give_the_same_embeddings(clip):
    images = _images(3)
    np.testing.assert_allclose(
        clip.embed_preprocessed([clip.preprocess(im) for im in images]), clip.embed_images(images), atol=1e-6
    )
    assert clip.preprocess(images[0]).shape == (3, clip.image_size, clip.image_size)


def test_text_embeddings(clip):
    out = clip.embed_texts(["a photo of a dog.", "a photo of a beach.", "a photo of a dog."])
    assert out.shape == (3, clip.dim) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out[0], out[2], atol=1e-6)
    assert not np.allclose(out[0], out[1])


def test_empty_inputs_give_empty_arrays(clip):
    assert clip.embed_images([]).shape == (0, clip.dim)
    assert clip.embed_texts([]).shape == (0, clip.dim)


def test_preprocessing_follows_the_pretrained_config():
    """A file path as `pretrained` skips open_clip's per-tag preprocessing; load_clip
    must pass it itself (MobileCLIP wants mean 0, std 1, bilinear, 256 px)."""
    import torch

    from photoorg.models.clip import load_clip
    from photoorg.models.registry import MODELS

    torch.manual_seed(0)
    mobile = load_clip(MODELS["mobileclip-s1"], None, "cpu")
    normalize = mobile._preprocess.transforms[-1]
    assert tuple(normalize.mean) == (0.0, 0.0, 0.0) and tuple(normalize.std) == (1.0, 1.0, 1.0)
    assert mobile.image_size == 256 and mobile.model_id.endswith("+random")
    assert mobile._preprocess.transforms[0].interpolation.value == "bilinear"


@pytest.mark.parametrize(
    "cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")]
)
def test_pick_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    import torch

    from photoorg.models import device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(device, "_mps_available", lambda torch: mps)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # the test leaves torch as it was
    assert pick_device() == expected
    assert pick_device("auto") == expected
    assert pick_device("cpu") == "cpu"
    if not cuda:
        with pytest.raises(DeviceUnavailable, match="not available on this machine"):
            pick_device("cuda")
    with pytest.raises(DeviceUnavailable, match="Unknown device 'tpu'"):
        pick_device("tpu")


def test_missing_gpu_is_one_sentence():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceUnavailable, match="not available on this machine"):
        pick_device("cuda")
