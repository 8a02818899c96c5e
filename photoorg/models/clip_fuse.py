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

A pattern is rewritten only when every constant is the expected one and every
intermediate is read by the next step alone; anything else (a near miss) stays as
exported, still correct, only slower.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

MS_DOMAIN = "com.microsoft"


def fused_graph(path: Path):
    """The ONNX file's model (a ModelProto; the file is not changed) with its GELUs fused."""
    import onnx

    model = onnx.load(str(path))
    if fuse_gelu(model.graph):
        if not any(o.domain == MS_DOMAIN for o in model.opset_import):
            model.opset_import.append(onnx.helper.make_opsetid(MS_DOMAIN, 1))
        _drop_unused_initializers(model.graph)
    return model


def fuse_gelu(graph) -> int:
    """Rewrite each x * (0.5 * (1 + Erf(x / sqrt 2))) as com.microsoft Gelu(x) (the same
    function, erf form). Returns how many were rewritten (12 in ViT-B-32)."""
    from onnx import helper

    scalars = _scalars(graph)
    made = {out: node for node in graph.node for out in node.output}
    # A graph output is read too: its value must stay.
    readers = Counter([name for node in graph.node for name in node.input] + [o.name for o in graph.output])

    def only_for(name: str | None, op: str):  # the node making `name`, when it is `op` and read once
        node = made.get(name)
        return node if node is not None and node.op_type == op and readers[name] == 1 else None

    def operand(node, value: float) -> str | None:  # the other input of `node` when one is `value`
        if node is None or len(node.input) != 2:
            return None
        a, b = node.input
        return a if scalars.get(b) == value else b if scalars.get(a) == value else None

    def matched(mul) -> tuple[str, list] | None:  # (x, the nodes the Gelu replaces)
        for x, gate in (mul.input, mul.input[::-1]) if len(mul.input) == 2 else ():
            half = only_for(gate, "Mul")
            add = only_for(operand(half, 0.5), "Add")
            erf = only_for(operand(add, 1.0), "Erf")
            div = erf and only_for(erf.input[0], "Div")
            if div and div.input[0] == x and _near(scalars.get(div.input[1]), math.sqrt(2)):
                return x, [div, erf, add, half]
        return None

    rewritten: dict[str, list] = {}
    dropped: set[str] = set()
    for mul in (n for n in graph.node if n.op_type == "Mul"):
        if found := matched(mul):
            x, replaced = found
            rewritten[mul.output[0]] = [
                helper.make_node("Gelu", [x], list(mul.output), name=f"{mul.name}.gelu", domain=MS_DOMAIN)
            ]
            dropped |= {n.output[0] for n in replaced}
    _replace_nodes(graph, rewritten, dropped)
    return len(rewritten)


def _scalars(graph) -> dict[str, float]:
    """The graph's one-element float initializers by name: the constants a pattern checks."""
    from onnx import TensorProto, numpy_helper

    floats = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16)
    return {
        init.name: float(numpy_helper.to_array(init).reshape(()))
        for init in graph.initializer
        if math.prod(init.dims) == 1 and init.data_type in floats
    }


def _near(value: float | None, want: float) -> bool:
    """Equal to within float32's rounding of `want` (the export stores float32)."""
    return value is not None and abs(value - want) <= 1e-6 * abs(want)


def _replace_nodes(graph, rewritten: dict[str, list], dropped: set[str]) -> None:
    """Nodes named by their first output: each one in `rewritten` replaced in place by
    its new nodes (so the order stays topological), each one in `dropped` removed."""
    nodes = [
        new
        for node in graph.node
        if node.output[0] not in dropped
        for new in rewritten.get(node.output[0], [node])
    ]
    del graph.node[:]
    graph.node.extend(nodes)


def _drop_unused_initializers(graph) -> None:
    """Constants no node reads any more (onnxruntime would warn about each one)."""
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
