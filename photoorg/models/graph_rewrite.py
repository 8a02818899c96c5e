"""Pattern rewrites of ONNX graphs (onnx's protobuf objects, changed in place), for the
exports onnxruntime runs slower than it could: PicoDet-S's HardSwish (picodet.py) and
the CLIP image tower's GELU (clip_fuse.py).

A pattern is rewritten only when every constant is the expected one and every
intermediate is read by the next step alone (a graph output counts as a reader: its
value must stay); anything else, a near miss, stays as exported: still correct, only
slower. Nodes are told apart by their first output's name: protobuf's wrapper objects
are made anew on access, so their id() is no identity.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any


class Matcher:
    """What a pattern needs to know of a graph: its scalar constants, the node making
    each value, and how many read it."""

    def __init__(self, graph):
        from onnx import TensorProto, numpy_helper

        floats = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16)
        self.scalars = {  # the one-element float initializers by name: a pattern's constants
            init.name: float(numpy_helper.to_array(init).reshape(()))
            for init in graph.initializer
            if math.prod(init.dims) == 1 and init.data_type in floats
        }
        self.made = {out: node for node in graph.node for out in node.output}
        self.readers = Counter(
            [name for node in graph.node for name in node.input] + [o.name for o in graph.output]
        )

    def only_for(self, name: str | None, op: str):
        """The node making `name`, when it is an `op` and nothing else reads `name`."""
        node = self.made.get(name)
        return node if node is not None and node.op_type == op and self.readers[name] == 1 else None

    def operand(self, node, value: float) -> str | None:
        """The other input of a two-input `node` when one of them is the constant `value`."""
        if node is None or len(node.input) != 2:
            return None
        a, b = node.input
        return a if self.scalars.get(b) == value else b if self.scalars.get(a) == value else None


def rewrite(graph, op: str, match: Callable[[Any], tuple[list, list] | None]) -> int:
    """Each `op` node for which match(node) gives (new nodes, the other nodes they
    replace) is replaced in place by the new nodes, so the order stays topological; the
    other nodes are removed. Nodes are named by their first output. Returns how many
    were rewritten."""
    rewritten: dict[str, list] = {}
    dropped: set[str] = set()
    for node in (n for n in graph.node if n.op_type == op):
        if found := match(node):
            rewritten[node.output[0]], replaced = found
            dropped |= {n.output[0] for n in replaced}
    nodes = [
        new
        for node in graph.node
        if node.output[0] not in dropped
        for new in rewritten.get(node.output[0], [node])
    ]
    del graph.node[:]
    graph.node.extend(nodes)
    return len(rewritten)


def drop_unused_initializers(graph) -> None:
    """Constants no node reads any more (onnxruntime would warn about each one)."""
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
