"""The dependency graph between steps, built from their declared inputs and outputs."""

from __future__ import annotations

__all__ = ["DAG", "topological_order"]

from collections.abc import Iterable, Mapping, Sequence

from flowyml.core.errors import PipelineDefinitionError
from flowyml.core.graph import Node
from flowyml.core.step import Step


class DAG:
    """Steps as nodes; an edge from the step producing an output to each step consuming it."""

    def __init__(self, steps: Sequence[Step], external_inputs: Iterable[str] = ()) -> None:
        self.steps: dict[str, Step] = {}
        for s in steps:
            if s.name in self.steps:
                raise PipelineDefinitionError(f"two steps are named {s.name!r}; step names must be unique")
            self.steps[s.name] = s
        self.producers: dict[str, str] = {}
        for s in steps:
            for out in s.outputs:
                if out in self.producers:
                    raise PipelineDefinitionError(
                        f"output {out!r} is produced by both {self.producers[out]!r} and {s.name!r}; "
                        "each output name must come from exactly one step"
                    )
                self.producers[out] = s.name
        external = set(external_inputs)
        self._deps: dict[str, list[str]] = {}
        for s in steps:
            deps: list[str] = []
            for name in s.inputs:
                producer = self.producers.get(name)
                if producer is None:
                    if name in external:
                        continue
                    available = sorted(set(self.producers) | external)
                    raise PipelineDefinitionError(
                        f"step {s.name!r} needs input {name!r}, which no step produces and the run does "
                        f"not provide; available outputs: {available or 'none'}"
                    )
                if producer == s.name:
                    raise PipelineDefinitionError(f"step {s.name!r} consumes its own output {name!r}")
                if producer not in deps:
                    deps.append(producer)
            self._deps[s.name] = deps
        self._order = self._topological_order()

    def get_dependencies(self, step_name: str) -> list[str]:
        """Names of the steps whose outputs ``step_name`` consumes."""
        try:
            return list(self._deps[step_name])
        except KeyError:
            raise KeyError(f"no step named {step_name!r} in this DAG") from None

    def get_dependents(self, step_name: str) -> list[str]:
        """Names of the steps that consume an output of ``step_name``."""
        return [name for name, deps in self._deps.items() if step_name in deps]

    def topological_sort(self) -> list[Step]:
        """Steps in an order where every step comes after its dependencies (stable: definition order)."""
        return [self.steps[n] for n in self._order]

    @property
    def order(self) -> list[str]:
        return list(self._order)

    @property
    def nodes(self) -> dict[str, Node]:
        """FlowyML's view: a :class:`~flowyml.core.graph.Node` per step, by name."""
        return {name: Node(name, s, list(s.inputs), list(s.outputs)) for name, s in self.steps.items()}

    @property
    def edges(self) -> dict[str, set[str]]:
        """FlowyML's view: for each step, the set of steps producing its inputs."""
        return {name: set(deps) for name, deps in self._deps.items()}

    def _topological_order(self) -> list[str]:
        return topological_order(self._deps)


def topological_order(deps: Mapping[str, Iterable[str]]) -> list[str]:
    """Kahn's algorithm over ``name -> dependencies``; among ready nodes the one listed first goes first.

    O(V + E) when every node comes after its dependencies (the usual pipeline: that order is the
    answer), else O(V + E log V). A cycle raises :class:`PipelineDefinitionError` naming the nodes in it.
    """
    names = list(deps)
    index = {name: i for i, name in enumerate(names)}
    if all(index.get(d, -1) < index[name] for name, ds in deps.items() for d in ds):
        return names  # already ordered: Kahn's algorithm with this tie-break would give the same order
    import heapq  # only here: its first import costs more than the whole fast path

    indegree = {name: 0 for name in names}
    dependents: dict[str, list[str]] = {name: [] for name in names}
    for name, ds in deps.items():
        for d in dict.fromkeys(ds):
            if d in index:
                dependents[d].append(name)
                indegree[name] += 1
    ready = [index[n] for n, k in indegree.items() if k == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = names[heapq.heappop(ready)]
        order.append(name)
        for child in dependents[name]:
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(ready, index[child])
    if len(order) < len(names):
        done = set(order)
        remaining = {n: {d for d in deps[n] if d in index} - done for n in names if n not in done}
        raise PipelineDefinitionError(f"the steps form a cycle: {' -> '.join(_find_cycle(remaining))}")
    return order


def _find_cycle(remaining: dict[str, set[str]]) -> list[str]:
    start = next(iter(remaining))
    path: list[str] = []
    node = start
    while node not in path:
        path.append(node)
        node = next(iter(remaining[node]))
    cycle = [*path[path.index(node) :], node]
    return list(reversed(cycle))  # producer -> consumer order
