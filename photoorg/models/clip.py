"""Image and text embeddings with open_clip, using open_clip's own transforms and tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

    from .registry import ModelSpec


class ClipModel:
    """One open_clip model in eval mode on one device.

    Embeddings come back as float32 numpy rows of unit length, whatever the device
    precision (fp16 on CUDA, fp32 elsewhere).
    """

    def __init__(self, model, preprocess, tokenizer, device: str, model_id: str):
        import torch

        self._model = model
        self._preprocess = preprocess
        self._tokenizer = tokenizer
        self._device = device
        self._dtype = next(model.parameters()).dtype
        self.model_id = model_id
        self.dim = int(model.text_projection.shape[1]) if _has_text_proj(model) else \
            int(self._probe_dim(torch))
        self.image_size = _image_side(model)
        # CLIP's learned temperature: the tagger turns cosines into probabilities with it.
        self.logit_scale = float(model.logit_scale.detach().float().exp().item())

    def preprocess(self, image: Image.Image):
        """open_clip's eval transform for one image (safe to call from decode threads)."""
        return self._preprocess(image.convert("RGB"))

    def embed_images(self, images: list[Image.Image]) -> np.ndarray:
        return self.embed_preprocessed([self.preprocess(im) for im in images])

    def embed_preprocessed(self, tensors: list) -> np.ndarray:
        """Embeddings of tensors made by preprocess(), e.g. in the indexer's decode threads."""
        if not tensors:
            return np.zeros((0, self.dim), np.float32)
        import torch

        batch = torch.stack(list(tensors)).to(self._dtype)
        return self._run(lambda m, x: m.encode_image(x), batch)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return self._run(lambda m, x: m.encode_text(x), self._tokenizer(list(texts)))

    def _run(self, encode, batch) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = encode(self._model, batch.to(self._device)).float()
            out = torch.nn.functional.normalize(out, dim=-1)
        return out.cpu().numpy().astype(np.float32, copy=False)

    def _probe_dim(self, torch) -> int:
        with torch.inference_mode():
            tokens = self._tokenizer(["a photo"]).to(self._device)
            return self._model.encode_text(tokens).shape[-1]


def _has_text_proj(model) -> bool:
    proj = getattr(model, "text_projection", None)
    return proj is not None and getattr(proj, "ndim", 0) == 2


def _image_side(model) -> int:
    size = model.visual.image_size
    return int(max(size) if isinstance(size, (tuple, list)) else size)


def load_clip(spec: ModelSpec, weights: Path | None, device: str) -> ClipModel:
    """Build `spec.arch` through open_clip; weights None gives the real architecture
    randomly initialised (model_id then ends in "+random")."""
    import open_clip

    pre = open_clip.get_pretrained_cfg(spec.arch, spec.pretrained_tag or "") or {}
    # A file path (or None) as `pretrained` skips the tag's preprocessing settings, so
    # pass them explicitly: MobileCLIP, for one, expects mean 0 / std 1 and bilinear.
    model, _, preprocess = open_clip.create_model_and_transforms(
        spec.arch,
        pretrained=str(weights) if weights else None,
        precision="fp16" if device == "cuda" else "fp32",
        device=device,
        image_mean=pre.get("mean"),
        image_std=pre.get("std"),
        image_interpolation=pre.get("interpolation"),
        image_resize_mode=pre.get("resize_mode"),
    )
    model.eval()
    if spec.arch.startswith("MobileCLIP"):
        # MobileCLIP's FastViT blocks train with parallel branches; fusing them is the
        # published inference form and several times faster on a CPU.
        from timm.utils import reparameterize_model

        model = reparameterize_model(model)
    model_id = f"open_clip:{spec.arch}:{spec.pretrained_tag}" + ("" if weights else "+random")
    return ClipModel(model, preprocess, open_clip.get_tokenizer(spec.arch), device, model_id)
