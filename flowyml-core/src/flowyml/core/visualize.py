"""A pipeline's DAG as text, Mermaid, Graphviz DOT or SVG (no network, no extra package).

One edge per dependency between two steps, labelled with the outputs that connect them; the
execution groups (the units that run as one job) are Mermaid subgraphs and DOT clusters.
Inputs no step produces are the run's inputs: they are listed, not drawn as steps.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from flowyml.core.dag import DAG
from flowyml.core.step_grouping import get_step_groups

if TYPE_CHECKING:
    from flowyml.core.pipeline import Pipeline

FORMATS = ("text", "mermaid", "dot")
_MERMAID_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OUR_IDS = re.compile(r"^(step|group)_\d+$")  # the ids given to names Mermaid cannot take as they are
_MERMAID_RESERVED = {"end", "graph", "subgraph", "flowchart", "style", "class", "classdef", "click", "direction"}


@attrs.frozen
class Edge:
    """``source`` produces ``assets``, which ``target`` consumes."""

    source: str
    target: str
    assets: tuple[str, ...]


@attrs.frozen
class Graph:
    """What every format draws: steps in topological order, edges, groups and the run's inputs."""

    name: str
    steps: tuple[str, ...]
    edges: tuple[Edge, ...]
    groups: tuple[tuple[str, tuple[str, ...]], ...]  # (unit name, member steps in execution order)
    inputs: tuple[str, ...]


def graph_of(pipeline: Pipeline) -> Graph:
    """The pipeline's wiring, checked as for a run (the run's inputs are those no step produces)."""
    produced = {out for s in pipeline.steps for out in s.outputs}
    inputs = tuple(dict.fromkeys(i for s in pipeline.steps for i in s.inputs if i not in produced))
    dag = DAG(pipeline.steps, external_inputs=inputs)
    edges = []
    for name in dag.order:
        step = dag.steps[name]
        for dep in dag.get_dependencies(name):
            assets = tuple(i for i in step.inputs if dag.producers.get(i) == dep)
            edges.append(Edge(dep, name, assets))
    groups = tuple((g.name, tuple(g.execution_order)) for g in get_step_groups(dag, pipeline.steps))
    return Graph(pipeline.name, tuple(dag.order), tuple(edges), groups, inputs)


def to_text(pipeline: Pipeline) -> str:
    """One line per step in run order: ``train  <- split (train_set)  [group training]``."""
    g = graph_of(pipeline)
    group_of = {step: group for group, members in g.groups for step in members}
    lines = [f"pipeline {g.name}: {_count(len(g.steps), 'step')}, {_count(len(g.edges), 'dependency')}"]
    if g.inputs:
        lines.append(f"run inputs: {', '.join(g.inputs)}")
    width = max((len(s) for s in g.steps), default=0)
    for step in g.steps:
        deps = [f"{e.source} ({', '.join(e.assets)})" for e in g.edges if e.target == step]
        line = f"  {step:<{width}}" + (f"  <- {', '.join(deps)}" if deps else "")
        if step in group_of:
            line += f"  [group {group_of[step]}]"
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def to_mermaid(pipeline: Pipeline) -> str:
    """Mermaid flowchart text (``flowchart LR``); paste it in Markdown or mermaid.live."""
    g = graph_of(pipeline)
    ids = _mermaid_ids(g.steps)
    lines = ["flowchart LR"]
    grouped: set[str] = set()
    for i, (group, members) in enumerate(g.groups):
        lines.append(f'    subgraph group_{i}["{_mermaid_text(group)}"]')
        lines += [f'        {ids[m]}["{_mermaid_text(m)}"]' for m in members]
        lines.append("    end")
        grouped.update(members)
    lines += [f'    {ids[s]}["{_mermaid_text(s)}"]' for s in g.steps if s not in grouped]
    for e in g.edges:
        lines.append(f'    {ids[e.source]} -->|"{_mermaid_text(", ".join(e.assets))}"| {ids[e.target]}')
    return "\n".join(lines) + "\n"


def to_dot(pipeline: Pipeline) -> str:
    """Graphviz DOT text (``dot -Tsvg``); execution groups are clusters."""
    g = graph_of(pipeline)
    lines = [f"digraph {_dot_quote(g.name)} {{", "    rankdir=LR;", "    node [shape=box, style=rounded];"]
    grouped: set[str] = set()
    for i, (group, members) in enumerate(g.groups):
        lines.append(f"    subgraph cluster_{i} {{")
        lines.append(f"        label={_dot_quote(group)};")
        lines += [f"        {_dot_quote(m)};" for m in members]
        lines.append("    }")
        grouped.update(members)
    lines += [f"    {_dot_quote(s)};" for s in g.steps if s not in grouped]
    for e in g.edges:
        label = _dot_quote(", ".join(e.assets))
        lines.append(f"    {_dot_quote(e.source)} -> {_dot_quote(e.target)} [label={label}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(pipeline: Pipeline, fmt: str) -> str:
    """The DAG in one of :data:`FORMATS`."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown DAG format {fmt!r}; use one of {', '.join(FORMATS)}")
    return {"text": to_text, "mermaid": to_mermaid, "dot": to_dot}[fmt](pipeline)


def to_svg(pipeline: Pipeline) -> str:
    """A self-contained SVG: steps in columns by depth, left to right, groups as dashed boxes."""
    g = graph_of(pipeline)
    depth: dict[str, int] = {}
    for step in g.steps:  # topological order: every source is placed before its targets
        depth[step] = max((depth[e.source] + 1 for e in g.edges if e.target == step), default=0)
    columns: dict[int, list[str]] = {}
    for step in g.steps:
        columns.setdefault(depth[step], []).append(step)
    box_w = max(100, 8 * max((len(s) for s in g.steps), default=0) + 24)
    box_h, gap_x, gap_y, pad = 36, 70, 28, 24
    pos = {
        step: (pad + col * (box_w + gap_x), pad + row * (box_h + gap_y))
        for col, members in columns.items()
        for row, step in enumerate(members)
    }
    width = pad * 2 + max(len(columns), 1) * (box_w + gap_x) - gap_x
    height = pad * 2 + max((len(m) for m in columns.values()), default=1) * (box_h + gap_y) - gap_y
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">',
        f"<title>{html.escape(g.name)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
    ]
    for group, members in g.groups:
        xs = [pos[m][0] for m in members]
        ys = [pos[m][1] for m in members]
        x, y = min(xs) - 10, min(ys) - 20
        w, h = max(xs) + box_w + 10 - x, max(ys) + box_h + 10 - y
        out.append(
            f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="8" fill="none" stroke="#999" '
            f'stroke-dasharray="5,4"/><text x="{x + 6}" y="{y + 13}" fill="#666">{html.escape(group)}</text>'
        )
    for e in g.edges:
        (x1, y1), (x2, y2) = pos[e.source], pos[e.target]
        out.append(
            f'<line x1="{x1 + box_w}" y1="{y1 + box_h / 2}" x2="{x2}" y2="{y2 + box_h / 2}" stroke="#555" '
            f'marker-end="url(#arrow)"><title>{html.escape(", ".join(e.assets))}</title></line>'
        )
    for step, (x, y) in pos.items():
        out.append(
            f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="#eef3fb" stroke="#4a6fa5"/>'
            f'<text x="{x + box_w / 2}" y="{y + box_h / 2 + 4}" text-anchor="middle">{html.escape(step)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def mimebundle(pipeline: Pipeline) -> dict[str, str]:
    """What a notebook shows for a Pipeline: the SVG drawn here, Mermaid text for Markdown frontends."""
    return {
        "image/svg+xml": to_svg(pipeline),
        "text/markdown": f"```mermaid\n{to_mermaid(pipeline)}```\n",
        "text/plain": repr(pipeline),
    }


def _mermaid_ids(steps: Sequence[str]) -> dict[str, str]:
    """Step names as node ids where Mermaid takes them as they are, ``step_<n>`` otherwise."""
    ids = {}
    for i, step in enumerate(steps):
        plain = _MERMAID_ID.match(step) and step.lower() not in _MERMAID_RESERVED and not _OUR_IDS.match(step)
        ids[step] = step if plain else f"step_{i}"
    return ids


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _count(n: int, word: str) -> str:
    plural = word[:-1] + "ies" if word.endswith("y") else word + "s"
    return f"{n} {word if n == 1 else plural}"
