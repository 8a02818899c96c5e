"""Image and text embeddings with open_clip, using open_clip's own transforms and tokenizer.

Text is encoded on the tokens up to the longest prompt of the batch, not padded to 77:
in CLIP's text tower (causal attention, pooled at the end-of-text token) no position
attends to a later one, so the padding never reaches the pooled token and the
embedding is the same (tests/test_clip.py: cosine >= 0.99999 against the full pass on
ViT-B-32). Prompts are 9 tokens on average (15 at most), so the vocabulary's 1,499
prompts took 9.6 s instead of 86 s here (bench/vocab.py, load 1.8). MobileCLIP's text
tower attends both ways (no causal mask, no padding mask): there the padding does change
the result, so it keeps 77.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .usercache import file_digest

if TYPE_CHECKING:
    from PIL import Image

    from .registry import ModelSpec


class ClipModel:
    """One open_clip model in eval mode on one device.

    Embeddings come back as float32 numpy rows of unit length, whatever the device
    precision (fp16 on CUDA, fp32 elsewhere).
    """

    def __init__(self, model, preprocess, tokenizer, device: str, model_id: str, weights_id: str = ""):
        import torch

        self._model = model
        # The vocabulary (and with it the ONNX export) is built on a background thread
        # while the indexer embeds photos: one forward or export at a time.
        self.lock = threading.RLock()
        # What the weights are, for caches derived from them (text embeddings, ONNX
        # exports): the file's sha256, or a hash of the parameters of random weights.
        self.weights_id = weights_id or state_digest(model)
        self.trims_text = can_trim_text(model)
        self._onnx = None  # an onnxruntime session for the image tower (clip_onnx.py)
        self.image_path = f"torch {'fp16' if device == 'cuda' else 'fp32'}"
        self._preprocess = preprocess
        self._tokenizer = tokenizer
        self._device = device
        self._dtype = _input_dtype(model)
        self.model_id = model_id
        self.dim = (
            int(model.text_projection.shape[1]) if _has_text_proj(model) else int(self._probe_dim(torch))
        )
        self.image_size = _image_side(model)
        # CLIP's learned temperature: the tagger turns cosines into probabilities with it.
        self.logit_scale = float(model.logit_scale.detach().float().exp().item())

    def preprocess(self, image: Image.Image):
        """open_clip's eval transform for one image (safe to call from decode threads)."""
        return self._preprocess(image.convert("RGB"))

    def embed_images(self, images: list[Image.Image]) -> np.ndarray:
        return self.embed_preprocessed([self.preprocess(im) for im in images])

    @property
    def device(self) -> str:
        return self._device

    def use_onnx(self, session, label: str) -> None:
        """Run the image tower through this onnxruntime session from now on."""
        self._onnx, self.image_path = session, label

    def embed_preprocessed(self, tensors: list) -> np.ndarray:
        """Embeddings of tensors made by preprocess(), e.g. in the indexer's decode threads."""
        if not tensors:
            return np.zeros((0, self.dim), np.float32)
        if self._onnx is not None:
            batch = np.stack([np.asarray(t, np.float32) for t in tensors])
            return self._onnx.run(None, {"input": batch})[0].astype(np.float32, copy=False)
        return self.embed_torch(tensors)

    def embed_torch(self, tensors: list) -> np.ndarray:
        """The torch path, whatever runs by default (the reference of the int8 check)."""
        import torch

        batch = torch.stack(list(tensors)).to(self._dtype)
        return self._run(lambda m, x: m.encode_image(x), batch)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        tokens = self._tokenizer(list(texts))
        if not self.trims_text:
            return self._run(lambda m, x: m.encode_text(x), tokens)
        return self._run(encode_text_trimmed, trim_tokens(tokens))

    @property
    def torch_model(self):
        """The open_clip module (for exports and checks)."""
        return self._model

    @property
    def tokenizer(self):
        return self._tokenizer

    def _run(self, encode, batch) -> np.ndarray:
        import torch

        with self.lock, torch.inference_mode():
            out = encode(self._model, batch.to(self._device)).float()
            out = torch.nn.functional.normalize(out, dim=-1)
        return out.cpu().numpy().astype(np.float32, copy=False)

    def _probe_dim(self, torch) -> int:
        with torch.inference_mode():
            tokens = self._tokenizer(["a photo"]).to(self._device)
            return self._model.encode_text(tokens).shape[-1]


def can_trim_text(model) -> bool:
    """Whether cutting the tokens after the batch's last end-of-text token leaves the
    embedding unchanged: causal attention and end-of-text (argmax) pooling."""
    import open_clip

    return (
        isinstance(model, open_clip.CLIP)
        and getattr(model, "attn_mask", None) is not None
        and getattr(model, "text_pool_type", "argmax") == "argmax"
    )


def trim_tokens(tokens):
    """Tokens cut after the longest prompt's end-of-text token (the highest id)."""
    return tokens[:, : int(tokens.argmax(dim=-1).max()) + 1]


def encode_text_trimmed(model, text):
    """open_clip's CLIP.encode_text on a sequence shorter than the context: the
    positional embedding and causal mask are cut to the same length."""
    import torch

    n = text.shape[1]
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(text).to(cast) + model.positional_embedding[:n].to(cast)
    x = model.transformer(x, attn_mask=model.attn_mask[:n, :n])
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), text.argmax(dim=-1)]
    if isinstance(model.text_projection, torch.nn.Linear):
        return model.text_projection(x)
    return x @ model.text_projection


def state_digest(model) -> str:
    """A stable id of randomly initialised weights: a hash of every parameter."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return "random-" + digest.hexdigest()


def _input_dtype(model):
    """The dtype the image tower's first layer takes. open_clip's fp16 (CUDA) converts
    only convolutions, linears and attention, so the first parameter (the class
    embedding) stays fp32 and says nothing about the input (found on an H200)."""
    import torch

    layers = (torch.nn.Conv2d, torch.nn.Linear)
    return next((m.weight.dtype for m in model.visual.modules() if isinstance(m, layers)), torch.float32)


def _has_text_proj(model) -> bool:
    proj = getattr(model, "text_projection", None)
    return proj is not None and getattr(proj, "ndim", 0) == 2


def _image_side(model) -> int:
    size = model.visual.image_size
    return int(max(size) if isinstance(size, (tuple, list)) else size)


def clip_model_id(spec: ModelSpec, weights: Path | None) -> str:
    """What embeddings of this model record, known without loading it."""
    return f"open_clip:{spec.arch}:{spec.pretrained_tag}" + ("" if weights else "+random")


def load_clip(spec: ModelSpec, weights: Path | None, device: str) -> ClipModel:
    """Build `spec.arch` through open_clip; weights None gives the real architecture
    randomly initialised (model_id then ends in "+random")."""
    import open_clip
    import torch

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
    if device == "cpu":
        from .device import use_all_cores

        use_all_cores(torch)
    if spec.arch.startswith("MobileCLIP"):
        # MobileCLIP's FastViT blocks train with parallel branches; fusing them is the
        # published inference form and several times faster on a CPU.
        from timm.utils import reparameterize_model

        model = reparameterize_model(model)
    model_id = clip_model_id(spec, weights)
    weights_id = file_digest(weights) if weights else ""
    return ClipModel(model, preprocess, open_clip.get_tokenizer(spec.arch), device, model_id, weights_id)
