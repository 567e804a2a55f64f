"""Issue 15 item 7: a pipeline defined in a notebook or a REPL is refused at submit, saying what to do.

The README's and docs/backends/local.md's submitting snippets, pasted below the quickstart in a
file, run end to end on the local backend (their ``if __name__ == "__main__":`` guard keeps the
step-runners, which import the file, from submitting again).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```python\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)

PIPELINE = """
from flowyml import Pipeline, step
from flowyml.stacks.local import LocalOrchestrator

@step(outputs=["n"])
def one():
    return 1

pipeline = Pipeline("interactive")
pipeline.add_step(one)
"""
SUBMIT = """
try:
    LocalOrchestrator().run_pipeline(pipeline, run_id="interactive-1")
except Exception as exc:
    print("REFUSED:", type(exc).__name__, exc)
else:
    print("SUBMITTED")
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "FLOWYML_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT / "flowyml-core" / "src")}
    env.pop("FLOWYML_CONFIG", None)
    env.pop("FLOWYML_STACK", None)
    return env


def _assert_refused(output: str) -> None:
    assert "REFUSED: FlowymlError" in output, output
    assert "pipeline 'interactive' was defined in a notebook or an interactive session" in output
    assert "move the pipeline to a .py file" in output and "pipeline_module='module:attribute'" in output


@pytest.mark.parametrize(
    "how",
    [
        pytest.param(["-c", PIPELINE + SUBMIT], id="python -c"),
        pytest.param(["-"], id="stdin"),
        pytest.param(["-i", "-q"], id="interactive REPL"),
    ],
)
def test_a_repl_pipeline_is_refused_at_submit(tmp_path: Path, how: list[str]) -> None:
    source = None if how[0] == "-c" else PIPELINE + SUBMIT + "\n"
    proc = subprocess.run(
        [sys.executable, *how],
        input=source,
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    _assert_refused(proc.stdout + proc.stderr)
    assert not (tmp_path / "home" / "local" / "runs" / "interactive-1").exists(), "nothing is started"


def test_a_notebook_pipeline_shows_its_graph_and_is_refused_at_submit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(PIPELINE),
        nbformat.v4.new_code_cell("pipeline"),
        nbformat.v4.new_code_cell(SUBMIT),
    ]
    for key, value in _env(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("FLOWYML_CONFIG", raising=False)
    monkeypatch.delenv("FLOWYML_STACK", raising=False)
    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # a real ipykernel, which inherits this environment
    shown = notebook.cells[1].outputs[0]["data"]
    assert shown["image/svg+xml"].startswith("<svg") and ">one</text>" in shown["image/svg+xml"]
    assert shown["text/markdown"].startswith("```mermaid\nflowchart LR\n")
    printed = "".join(o.get("text", "") for o in notebook.cells[2].outputs)
    _assert_refused(printed)


def test_the_readme_and_local_backend_snippets_submit_from_a_file_and_run(tmp_path: Path) -> None:
    readme = FENCE.findall((ROOT / "README.md").read_text())
    quickstart, submit = readme[0], next(b for b in readme if "LocalOrchestrator" in b)
    local = next(b for b in FENCE.findall((ROOT / "docs" / "backends" / "local.md").read_text()) if "run_pipeline" in b)
    for i, snippet in enumerate([submit, local]):
        assert 'if __name__ == "__main__":' in snippet
        script = tmp_path / f"pasted_{i}.py"
        script.write_text(quickstart + "\n" + snippet)
        proc = subprocess.run(
            [sys.executable, script.name],
            cwd=tmp_path,
            env=_env(tmp_path / str(i)),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        if i == 0:
            assert "model_v1" in proc.stdout
