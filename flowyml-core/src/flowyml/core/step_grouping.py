"""Execution units: standalone steps and ``StepGroup``s that run together as one job."""

from __future__ import annotations

__all__ = ["StepGroup", "Unit", "unit_name", "get_execution_units", "get_step_groups", "get_unit_dependencies"]

import logging
from collections.abc import Sequence
from typing import Any

from flowyml.core.dag import DAG
from flowyml.core.errors import StepGroupError
from flowyml.core.resources import ResourceConfig, ResourceRequirements, as_requirements
from flowyml.core.step import Step

log = logging.getLogger(__name__)
_warned: set[tuple[str, ...]] = set()  # each split is reported once per process


class StepGroup:
    """Steps sharing an ``execution_group``: one container, run in ``execution_order``.

    ``aggregated_resources`` covers every member (the largest cpu/memory/storage, the best GPU);
    ``None`` when no member asks for resources. Constructed FlowyML's way,
    ``StepGroup(name, steps, aggregated_resources, execution_order)``, or flowyml 0.x's,
    ``StepGroup(name, steps, execution_order, resources)``.
    """

    __slots__ = ("aggregated_resources", "execution_order", "group_name", "steps")

    def __init__(
        self,
        group_name: str,
        steps: Sequence[Step],
        aggregated_resources: ResourceRequirements | ResourceConfig | Sequence[str] | None = None,
        execution_order: Sequence[str] | ResourceRequirements | ResourceConfig | None = None,
    ) -> None:
        resources, order = aggregated_resources, execution_order
        if isinstance(resources, Sequence) and not isinstance(resources, str):
            resources, order = order, resources  # flowyml 0.x order: (name, steps, execution_order, resources)
        if isinstance(order, (ResourceRequirements, ResourceConfig)) or isinstance(resources, Sequence):
            raise TypeError("StepGroup(name, steps, aggregated_resources, execution_order): arguments out of order")
        self.group_name = group_name
        self.steps = list(steps)
        self.execution_order: list[str] = list(order or [s.name for s in self.steps])
        self.aggregated_resources = as_requirements(resources)

    @property
    def name(self) -> str:
        return self.group_name

    @property
    def resources(self) -> ResourceRequirements | None:
        """The unit's resources (same as ``aggregated_resources``)."""
        return self.aggregated_resources

    @property
    def step_names(self) -> list[str]:
        return list(self.execution_order)

    def __repr__(self) -> str:
        return f"StepGroup({self.group_name!r}, {self.execution_order})"

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__


Unit = Step | StepGroup


def unit_name(unit: Unit) -> str:
    return unit.group_name if isinstance(unit, StepGroup) else unit.name


def unit_steps(unit: Unit) -> list[str]:
    return unit.step_names if isinstance(unit, StepGroup) else [unit.name]


def aggregate_resources(steps: Sequence[Step]) -> ResourceRequirements | None:
    """What a unit running ``steps`` needs: each request merged with ``merge_with``."""
    merged: ResourceRequirements | None = None
    for s in steps:
        req = as_requirements(s.resources)
        if req is not None:
            merged = req if merged is None else merged.merge_with(req)
    return merged


def split_group(members: Sequence[str], dag: DAG) -> list[list[str]]:
    """Split a group's members (in DAG order) where a step outside the group must run in between.

    A member joins the current part unless some step outside that part lies on a path from the
    part to the member; then it starts a new part. Each part can run as one job.
    """
    parts: list[list[str]] = []
    current: list[str] = []
    below: set[str] = set()  # every step reachable from the current part
    for name in members:
        if current and (_ancestors(name, dag) & below) - set(current):
            parts.append(current)
            current, below = [], set()
        current.append(name)
        below |= _descendants(name, dag)
    if current:
        parts.append(current)
    return parts


def get_execution_units(dag: DAG, steps: Sequence[Step]) -> list[Unit]:
    """Group steps by ``execution_group``; everything else runs alone. Units come in DAG order.

    A group a step outside it must run in the middle of is split, as FlowyML does, into parts
    named ``<group>_0``, ``<group>_1``, ... (logged as a warning). Groups that still cannot run as
    one job each (two groups feeding each other) are refused with :class:`StepGroupError`.
    """
    order = dag.order
    member_of = _group_parts(dag, steps, order)

    def key(name: str) -> str:
        return member_of.get(name, name)

    # Contract each group to one node and check the contracted graph stays acyclic.
    unit_deps: dict[str, set[str]] = {}
    for name in order:
        deps = unit_deps.setdefault(key(name), set())
        deps.update(key(d) for d in dag.get_dependencies(name) if key(d) != key(name))
    for group_name in dict.fromkeys(member_of.values()):
        _check_contiguous(group_name, unit_deps, member_of)

    from flowyml.core.dag import topological_order

    members: dict[str, list[Step]] = {}
    for name in order:
        if name in member_of:
            members.setdefault(member_of[name], []).append(dag.steps[name])
    units: list[Unit] = []
    for u in topological_order(unit_deps):  # keys in first-seen order: ready units keep DAG order
        group = members.get(u)
        if group:
            units.append(StepGroup(u, group, aggregate_resources(group), [m.name for m in group]))
        else:
            units.append(dag.steps[u])
    return units


def get_step_groups(dag: DAG, steps: Sequence[Step]) -> list[StepGroup]:
    """Only the groups of :func:`get_execution_units` (``pipeline.step_groups``)."""
    if not any(s.execution_group for s in steps):
        return []
    return [u for u in get_execution_units(dag, steps) if isinstance(u, StepGroup)]


def _group_parts(dag: DAG, steps: Sequence[Step], order: Sequence[str]) -> dict[str, str]:
    """Step name -> the name of the (possibly split) group it runs in."""
    by_group: dict[str, list[str]] = {}
    position = {name: i for i, name in enumerate(order)}
    for s in sorted(steps, key=lambda s: position[s.name]):
        if s.execution_group:
            by_group.setdefault(s.execution_group, []).append(s.name)
    member_of: dict[str, str] = {}
    for group, members in by_group.items():
        parts = split_group(members, dag)
        if len(parts) > 1 and (signature := (group, *("|".join(p) for p in parts))) not in _warned:
            _warned.add(signature)
            log.warning(
                "execution group %r cannot run as one job (a step outside it runs in between); split into %s",
                group,
                ", ".join(f"{group}_{i} ({', '.join(p)})" for i, p in enumerate(parts)),
            )
        for i, part in enumerate(parts):
            name = group if len(parts) == 1 else f"{group}_{i}"
            if name in dag.steps and dag.steps[name].execution_group != group:
                raise StepGroupError(f"execution group {name!r} has the same name as a step; rename one of them")
            for step_name in part:
                member_of[step_name] = name
    return member_of


def _descendants(name: str, dag: DAG) -> set[str]:
    return _walk(name, dag.get_dependents)


def _ancestors(name: str, dag: DAG) -> set[str]:
    return _walk(name, dag.get_dependencies)


def _walk(start: str, neighbours: Any) -> set[str]:
    seen: set[str] = set()
    stack = list(neighbours(start))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(neighbours(node))
    return seen


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


def _check_contiguous(group: str, unit_deps: dict[str, set[str]], member_of: dict[str, str]) -> None:
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
