"""Issue 15 item 4: a pipeline's DAG as text, Mermaid and DOT (CLI and Python), and in a notebook."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from flowyml import Pipeline, step
from flowyml.cli.main import main
from flowyml.core.visualize import to_text
from tests.cli_process import run_cli

ROOT = Path(__file__).resolve().parents[2]
NODE = re.compile(r'^\s+(\w+)\["([^"]*)"\]$', re.M)
MERMAID_EDGE = re.compile(r'^\s+(\w+) -->\|"([^"]*)"\| (\w+)$', re.M)
DOT_EDGE = re.compile(r'^\s+"([^"]+)" -> "([^"]+)" \[label="([^"]*)"\];$', re.M)


def _digits() -> Pipeline:
    sys.path.insert(0, str(ROOT))
    try:
        from examples.digits import pipeline
    finally:
        sys.path.remove(str(ROOT))
    return pipeline


def _dependencies(pipeline: Pipeline) -> set[tuple[str, str]]:
    dag = pipeline.dag
    return {(dep, name) for name in dag.order for dep in dag.get_dependencies(name)}


def _mermaid_edges(text: str) -> list[tuple[str, str]]:
    names = dict(NODE.findall(text))
    return [(names[a], names[b]) for a, _, b in MERMAID_EDGE.findall(text)]


def test_mermaid_has_one_edge_per_dependency_between_step_names_and_groups_as_subgraphs() -> None:
    pipeline = _digits()
    text = pipeline.to_mermaid()
    assert text.startswith("flowchart LR\n")
    edges = _mermaid_edges(text)
    assert len(edges) == len(set(edges)) == len(_dependencies(pipeline)) >= 5
    assert set(edges) == _dependencies(pipeline)
    assert ('load_digits -->|"features, labels"| split') in text
    assert re.search(r'subgraph group_0\["modelling"\]\n\s+train\["train"\]\n\s+evaluate\["evaluate"\]\n\s+end', text)


def test_dot_has_the_same_edges_and_groups_as_clusters() -> None:
    pipeline = _digits()
    text = pipeline.to_dot()
    assert text.startswith('digraph "digits" {')
    edges = [(a, b) for a, b, _ in DOT_EDGE.findall(text)]
    assert len(edges) == len(set(edges)) and set(edges) == _dependencies(pipeline)
    assert re.search(r'subgraph cluster_0 \{\n\s+label="modelling";\n\s+"train";\n\s+"evaluate";\n\s+\}', text)


def test_names_mermaid_cannot_take_as_ids_get_their_own_and_keep_their_labels() -> None:
    @step(outputs=["a b"])
    def first():
        return 1

    @step(inputs=["a b"], outputs=['say "x"'], name="end")
    def second(value):
        return value

    @step(inputs=['say "x"', "external"], outputs=["z"], name="step_0", execution_group="g.1")
    def third(value, external):
        return value

    @step(inputs=["z"], name="with-dash.v2", execution_group="g.1")
    def fourth(z):
        return z

    pipeline = Pipeline("odd-names").add_steps([first, second, third, fourth])
    mermaid = pipeline.to_mermaid()
    edges = _mermaid_edges(mermaid)
    assert edges == [("first", "end"), ("end", "step_0"), ("step_0", "with-dash.v2")]
    ids = [i for i, _ in NODE.findall(mermaid)]
    assert len(ids) == len(set(ids)) == 4 and "end" not in ids
    assert '-->|"say #quot;x#quot;"|' in mermaid
    dot = pipeline.to_dot()
    assert '"end" -> "step_0" [label="say \\"x\\""];' in dot
    text = to_text(pipeline)
    assert "run inputs: external" in text
    assert re.search(r"^  with-dash\.v2 +<- step_0 \(z\)  \[group g\.1\]$", text, re.M), text


def test_the_cli_prints_each_format_for_a_target_as_flowyml_run_takes_it(capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = _digits()
    for fmt, expected in [("mermaid", pipeline.to_mermaid()), ("dot", pipeline.to_dot())]:
        assert main(["dag", str(ROOT / "examples" / "digits.py"), "--format", fmt]) == 0
        assert capsys.readouterr().out == expected
    proc = run_cli("dag", "examples/digits.py:pipeline", cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("pipeline digits: 5 steps, 6 dependencies\n"), proc.stdout
    assert re.search(r"^  register +<- train \(model\), evaluate \(metrics\)$", proc.stdout, re.M), proc.stdout
    bad = run_cli("dag", "examples/nope.py", cwd=ROOT, timeout=60)
    assert bad.returncode == 2 and "examples/nope.py: no such pipeline file" in bad.stderr


def test_a_notebook_shows_the_graph_as_an_svg_drawn_here() -> None:
    pipeline = _digits()
    bundle = pipeline._repr_mimebundle_()
    svg = ET.fromstring(bundle["image/svg+xml"])
    labels = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert sorted(labels) == sorted([*pipeline.dag.order, "modelling"])
    lines = list(svg.iter("{http://www.w3.org/2000/svg}line"))
    assert len(lines) == len(_dependencies(pipeline))
    # Nothing to fetch: no script, no external reference, no link (only the SVG namespace).
    raw = bundle["image/svg+xml"]
    assert "<script" not in raw and "href" not in raw and raw.count("http") == 1
    assert bundle["text/markdown"] == f"```mermaid\n{pipeline.to_mermaid()}```\n"


DOCS_DAG = re.compile(r"<!-- dag: (\S+) -->\n```mermaid\n(.*?)```", re.S)
QUICKSTART = ROOT / "docs" / "quickstart.md"


def _examples() -> list[str]:
    found = [p for p in ROOT.glob("examples/*.py") if p.name != "__init__.py"] + list(
        ROOT.glob("examples/flowyml2/*.py")
    )
    return sorted(p.relative_to(ROOT).as_posix() for p in found)


def _mermaid_of(target: str) -> str:
    proc = run_cli("dag", target, "--format", "mermaid", cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def regenerate() -> None:
    """Rewrite the DAG blocks of docs/quickstart.md (``python tests/core/test_first_hour_dag.py``)."""
    from flowyml import Pipeline
    from flowyml.plugins.types import PipelineRef
    from flowyml.runner import import_pipeline_module

    page = QUICKSTART.read_text()
    head = page[: page.index("\n`examples/", page.index("## The examples' DAGs"))]
    blocks = []
    for example in _examples():
        module = import_pipeline_module(PipelineRef(module=example[:-3].replace("/", "."), path=str(ROOT / example)))
        names = [k for k, v in vars(module).items() if isinstance(v, Pipeline) and not k.startswith("_")]
        for name in names:
            target = example if len(names) == 1 else f"{example}:{name}"
            title = f"`{example}`" + (f": `{name}`" if len(names) > 1 else "")
            blocks.append(f"\n{title}\n\n<!-- dag: {target} -->\n```mermaid\n{_mermaid_of(target)}```\n")
    QUICKSTART.write_text(head.rstrip("\n") + "\n" + "".join(blocks))


def test_the_docs_show_each_examples_dag_as_generated() -> None:
    shown = dict(DOCS_DAG.findall(QUICKSTART.read_text()))
    assert {t.split(":")[0] for t in shown} == set(_examples()), "docs/quickstart.md: regenerate the DAG section"
    for target, text in shown.items():
        assert _mermaid_of(target) == text, f"docs/quickstart.md: the DAG of {target} is stale; regenerate it"


if __name__ == "__main__":
    regenerate()
