"""Execution units: standalone steps and ``StepGroup``s that run together as one job."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from flowyml.core.dag import DAG
from flowyml.core.errors import StepGroupError
from flowyml.core.resources import ResourceConfig
from flowyml.core.step import Step


@attrs.define(frozen=True, eq=False)
class StepGroup:
    """Steps sharing an ``execution_group``: one container, run in ``execution_order``."""

    group_name: str
    steps: list[Step]
    execution_order: list[str]
    resources: ResourceConfig | None = None

    @property
    def name(self) -> str:
        return self.group_name

    @property
    def step_names(self) -> list[str]:
        return list(self.execution_order)

    def __repr__(self) -> str:
        return f"StepGroup({self.group_name!r}, {self.execution_order})"


Unit = Step | StepGroup


def unit_name(unit: Unit) -> str:
    return unit.group_name if isinstance(unit, StepGroup) else unit.name


def unit_steps(unit: Unit) -> list[str]:
    return unit.step_names if isinstance(unit, StepGroup) else [unit.name]


def get_execution_units(dag: DAG, steps: Sequence[Step]) -> list[Unit]:
    """Group steps by ``execution_group``; everything else runs alone. Units come in DAG order.

    A group is refused when a step outside it sits between two of its members (the group could
    not run as one contiguous job).
    """
    order = dag.order
    member_of: dict[str, str] = {}
    for s in steps:
        if s.execution_group:
            if s.execution_group in dag.steps and dag.steps[s.execution_group].execution_group != s.execution_group:
                raise StepGroupError(
                    f"execution group {s.execution_group!r} has the same name as a step; rename one of them"
                )
            member_of[s.name] = s.execution_group

    def key(name: str) -> str:
        return member_of.get(name, name)

    # Contract each group to one node and check the contracted graph stays acyclic.
    unit_deps: dict[str, set[str]] = {}
    for name in order:
        deps = unit_deps.setdefault(key(name), set())
        deps.update(key(d) for d in dag.get_dependencies(name) if key(d) != key(name))
    for group in set(member_of.values()):
        _check_contiguous(group, unit_deps, dag, member_of)

    units: list[Unit] = []
    emitted: set[str] = set()
    remaining = dict(unit_deps)
    first_seen = {k: i for i, k in reversed(list(enumerate(key(n) for n in order)))}
    while remaining:
        ready = sorted((u for u, deps in remaining.items() if deps <= emitted), key=first_seen.__getitem__)
        for u in ready:
            del remaining[u]
            emitted.add(u)
            members = [dag.steps[n] for n in order if member_of.get(n) == u]
            if members:
                resources: ResourceConfig | None = None
                for m in members:
                    if m.resources is not None:
                        resources = m.resources if resources is None else resources.merge(m.resources)
                units.append(StepGroup(u, members, [m.name for m in members], resources))
            else:
                units.append(dag.steps[u])
    return units


def get_unit_dependencies(dag: DAG, units: Sequence[Unit]) -> dict[str, list[str]]:
    """For each unit, the units whose outputs it consumes (in unit order)."""
    owner = {step_name: unit_name(u) for u in units for step_name in unit_steps(u)}
    result: dict[str, list[str]] = {}
    for u in units:
        name = unit_name(u)
        deps: list[str] = []
        for step_name in unit_steps(u):
            for d in dag.get_dependencies(step_name):
                if owner[d] != name and owner[d] not in deps:
                    deps.append(owner[d])
        result[name] = deps
    return result


def _check_contiguous(group: str, unit_deps: dict[str, set[str]], dag: DAG, member_of: dict[str, str]) -> None:
    """Refuse a group that depends (transitively, through outside units) on itself."""
    stack = [d for d in unit_deps[group] if d != group]
    seen: set[str] = set()
    while stack:
        node = stack.pop()
        if node == group:
            outside = sorted(n for n in seen if n != group)
            members = sorted(n for n, g in member_of.items() if g == group)
            raise StepGroupError(
                f"execution group {group!r} ({', '.join(members)}) cannot run as one job: "
                f"{', '.join(outside)} depends on part of the group and feeds another part of it; "
                "move those steps into the group or split the group"
            )
        if node in seen:
            continue
        seen.add(node)
        stack.extend(unit_deps.get(node, ()))
