"""The CLIP image tower's int8 graph with its GELUs as one onnxruntime operator each
(clip_onnx.export_image: quantize_dynamic, then this).

Why: torch's exporter spells each GELU of the MLPs as five elementwise passes,
Div(x, sqrt 2) -> Erf -> Add 1 -> Mul 0.5 -> Mul x, and onnxruntime's own GeluFusion
does not fire on them (it knows x * (0.5 * ...) only as (x * 0.5) * ... or
x * (...) * 0.5). As com.microsoft Gelu each is one pass over the activations (3072
wide in ViT-B). Random ViT-B-32-256 int8, one thread, batch 8: see INT8_SCHEME's
comment in clip_onnx.py for the figures.

Rewritten after quantizing: quantize_dynamic leaves every node but the MatMuls and
Gemms as the exporter made them, so the GELUs are the exporter's own, and the int8
graph is 98 MB where the fp32 one is 350 MB (handing quantize_dynamic a fused fp32
graph raised the step's peak RSS from 1.2 GB to 1.4-1.9 GB). The rewrite itself knows
nothing of quantization: tests hold it to the fp32 export too, apart from
quantization noise. The fp32 export on disk stays as exported: it is the int8 check's
reference and the fallback.

The pattern is matched as graph_rewrite.py says: a near miss stays as exported.
"""

from __future__ import annotations

import math
from pathlib import Path

from .graph_rewrite import Matcher, drop_unused_initializers, rewrite

MS_DOMAIN = "com.microsoft"


def fused_graph(path: Path):
    """The ONNX file's model (a ModelProto; the file is not changed) with its GELUs fused."""
    import onnx

    model = onnx.load(str(path))
    if fuse_gelu(model.graph):
        if not any(o.domain == MS_DOMAIN for o in model.opset_import):
            model.opset_import.append(onnx.helper.make_opsetid(MS_DOMAIN, 1))
        drop_unused_initializers(model.graph)
    return model


def fuse_gelu(graph) -> int:
    """Rewrite each x * (0.5 * (1 + Erf(x / sqrt 2))) as com.microsoft Gelu(x) (the same
    function, erf form). Returns how many were rewritten (12 in ViT-B-32)."""
    from onnx import helper

    g = Matcher(graph)

    def gelu(mul) -> tuple[list, list] | None:  # (the Gelu, the nodes it replaces besides mul)
        for x, gate in (mul.input, mul.input[::-1]) if len(mul.input) == 2 else ():
            half = g.only_for(gate, "Mul")
            add = g.only_for(g.operand(half, 0.5), "Add")
            erf = g.only_for(g.operand(add, 1.0), "Erf")
            div = erf and g.only_for(erf.input[0], "Div")
            if div and div.input[0] == x and _near(g.scalars.get(div.input[1]), math.sqrt(2)):
                made = helper.make_node(
                    "Gelu", [x], list(mul.output), name=f"{mul.name}.gelu", domain=MS_DOMAIN
                )
                return [made], [div, erf, add, half]
        return None

    return rewrite(graph, "Mul", gelu)


def _near(value: float | None, want: float) -> bool:
    """Equal to within float32's rounding of `want` (the export stores float32)."""
    return value is not None and abs(value - want) <= 1e-6 * abs(want)
