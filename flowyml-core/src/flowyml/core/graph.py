"""FlowyML's graph API: ``Node`` and a ``DAG`` built node by node (``add_node``, ``build_edges``).

Pipelines use :class:`flowyml.core.dag.DAG`, which checks the wiring as it is built; this module
is for code written against FlowyML's ``flowyml.core.graph``. Both share one topological sort.
"""

from __future__ import annotations

__all__ = ["DAG", "Node"]

from collections import defaultdict, deque
from typing import Any

import attrs


@attrs.define(eq=False)
class Node:
    """A step in a graph: ``Node(name, step, inputs, outputs)``; nodes compare by name."""

    name: str
    step: Any
    inputs: list[str] = attrs.field(factory=list)
    outputs: list[str] = attrs.field(factory=list)

    def __hash__(self) -> int:
        return hash(self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and self.name == other.name


class DAG:
    """Nodes wired by asset names: ``edges[name]`` is the set of nodes producing ``name``'s inputs."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.edges: dict[str, set[str]] = defaultdict(set)
        self.reverse_edges: dict[str, set[str]] = defaultdict(set)
        self.asset_producers: dict[str, str] = {}
        self.asset_consumers: dict[str, set[str]] = defaultdict(set)

    def add_node(self, node: Node) -> None:
        self.nodes[node.name] = node
        for out in node.outputs:
            self.asset_producers[out] = node.name
        for inp in node.inputs:
            self.asset_consumers[inp].add(node.name)

    def build_edges(self) -> None:
        """Connect every node to the producers of its inputs (inputs nobody produces are left out)."""
        for name, node in self.nodes.items():
            for inp in node.inputs:
                producer = self.asset_producers.get(inp)
                if producer is not None and producer != name:
                    self.edges[name].add(producer)
                    self.reverse_edges[producer].add(name)

    def topological_sort(self) -> list[Node]:
        """Nodes, dependencies first (insertion order among ready nodes); a cycle raises ``ValueError``."""
        from flowyml.core.dag import topological_order

        order = topological_order({name: sorted(self.edges.get(name, ())) for name in self.nodes})
        return [self.nodes[name] for name in order]

    def get_dependencies(self, node_name: str) -> set[str]:
        return set(self.edges.get(node_name, ()))

    def get_dependents(self, node_name: str) -> set[str]:
        return set(self.reverse_edges.get(node_name, ()))

    def get_all_dependencies(self, node_name: str) -> set[str]:
        return _reachable(node_name, self.edges)

    def get_all_dependents(self, node_name: str) -> set[str]:
        return _reachable(node_name, self.reverse_edges)

    def validate(self) -> tuple[list[str], list[str]]:
        """(errors, warnings): undefined inputs, cycles and duplicate outputs are errors."""
        errors = [
            f"Node {name!r} requires undefined asset {inp!r}"
            for name, node in self.nodes.items()
            for inp in node.inputs
            if inp not in self.asset_producers
        ]
        try:
            self.topological_sort()
        except ValueError as exc:
            errors.append(str(exc))
        seen: dict[str, int] = defaultdict(int)
        for node in self.nodes.values():
            for out in node.outputs:
                seen[out] += 1
        errors += [f"Multiple nodes produce asset {out!r}" for out, n in seen.items() if n > 1]
        consumed = {inp for node in self.nodes.values() for inp in node.inputs}
        warnings = [
            f"Dead output: asset {out!r} from node {name!r} is never consumed by any downstream step"
            for name, node in self.nodes.items()
            if self.reverse_edges.get(name)
            for out in node.outputs
            if out not in consumed
        ]
        return errors, warnings

    def visualize(self) -> str:
        lines = ["Pipeline DAG:", "=" * 50]
        for i, node in enumerate(self.topological_sort(), 1):
            deps = ", ".join(sorted(self.get_dependencies(node.name))) or "none"
            lines += [f"{i}. {node.name}", f"   Inputs: {node.inputs}", f"   Outputs: {node.outputs}"]
            lines += [f"   Dependencies: {deps}", ""]
        return "\n".join(lines)


def _reachable(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    queue: deque[str] = deque(edges.get(start, ()))
    while queue:
        name = queue.popleft()
        if name not in seen:
            seen.add(name)
            queue.extend(edges.get(name, ()))
    seen.discard(start)
    return seen
