"""CLI conventions (issue 15 item 6): --version, python -m flowyml, --config anywhere, --detach alone, help on
every flag and argument, shell completion for bash, zsh and fish driven in the real shells."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import flowyml
from flowyml.cli.completion import nodes
from flowyml.cli.main import build_parser, subparsers
from tests.cli_process import run_cli

ROOT = Path(__file__).parent.parent.parent


def flowyml_cli(*args: str, cwd: Path = ROOT, module: str = "flowyml.cli.main") -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, module=module)


def test_version_and_python_dash_m():
    for module in ("flowyml.cli.main", "flowyml"):
        proc = flowyml_cli("--version", module=module)
        assert proc.returncode == 0 and proc.stdout.strip() == f"flowyml {flowyml.__version__}", proc
    listed = flowyml_cli("stack", "list", "--json", module="flowyml")
    assert listed.returncode == 0 and "local" in json.loads(listed.stdout)["stacks"]


def test_config_is_accepted_before_and_after_the_subcommand(tmp_path: Path):
    (tmp_path / "ci.yaml").write_text("default_stack: ci\nstacks:\n  ci:\n    orchestrator: {type: local}\n")
    before = ["--config", "ci.yaml", "stack", "list", "--json"]
    after = ["stack", "list", "--json", "--config", "ci.yaml"]
    for argv in (before, after):
        proc = flowyml_cli(*argv, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == {"active": "ci", "stacks": ["ci", "local"]}
    nested = flowyml_cli("schedule", "list", "--config", "missing.yaml", cwd=tmp_path)
    assert nested.returncode == 2 and "missing.yaml" in nested.stderr  # the nested parser took it, the loader read it
    plain = flowyml_cli("stack", "list", "--json", cwd=tmp_path)
    assert json.loads(plain.stdout) == {"active": "local", "stacks": ["local"]}  # not given: nothing leaks in


def test_detach_without_a_stack_submits_to_local():
    proc = flowyml_cli("run", "tests/core/lifecycle_pipelines.py:quick", "--detach", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["backend"] == "local" and doc["status"] == "SUBMITTED"
    deadline = time.monotonic() + 60
    while True:
        status = json.loads(flowyml_cli("status", doc["run_id"], "--json").stdout)
        if status["status"] in ("COMPLETED", "FAILED") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert status["status"] == "COMPLETED" and status["units"] == {"produce": "COMPLETED", "consume": "COMPLETED"}


def _walk(parser: argparse.ArgumentParser, path: str = "flowyml"):
    yield path, parser
    for name, child in subparsers(parser).items():
        if name != "step-runner":  # internal: its own parser (flowyml.runner) is checked below
            yield from _walk(child, f"{path} {name}")


def test_every_command_flag_and_argument_has_help():
    from flowyml.runner import main as runner_main  # noqa: F401 - the step-runner's parser lives there

    missing: list[str] = []
    checked = 0
    for path, parser in _walk(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    checked += 1
                    if not choice.help:
                        missing.append(f"{path} {choice.dest}")
                continue
            checked += 1
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert checked > 80 and not missing, f"no help text: {missing}"


def test_every_subcommand_help_renders():
    for path, _parser in _walk(build_parser()):
        proc = flowyml_cli(*path.split()[1:], "--help")
        assert proc.returncode == 0 and "usage: flowyml" in proc.stdout, (path, proc.stderr)


# -- completion: the script of each shell, driven by that shell --------------------------------
def _script(shell: str, tmp_path: Path) -> Path:
    proc = flowyml_cli("completion", shell)
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / f"flowyml.{shell}"
    path.write_text(proc.stdout)
    return path


BASH_DRIVER = """
source {script}
comp() {{ COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=(); _flowyml; echo "${{COMPREPLY[*]}}"; }}
{calls}
"""


def _bash(script: Path, cases: list[list[str]], cwd: Path) -> list[list[str]]:
    calls = "\n".join("comp flowyml " + " ".join(f"'{w}'" for w in words) for words in cases)
    proc = subprocess.run(
        ["bash", "--norc", "-c", BASH_DRIVER.format(script=script, calls=calls)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return [line.split() for line in proc.stdout.splitlines()]


def test_bash_completion_knows_every_command_and_flag(tmp_path: Path):
    script = _script("bash", tmp_path)
    (tmp_path / "train.py").write_text("")
    all_nodes = nodes(build_parser())
    cases = [[*n.path.split(), "-"] for n in all_nodes] + [[*n.path.split(), ""] for n in all_nodes if n.commands]
    answers = _bash(script, cases, tmp_path)
    flag_answers, command_answers = answers[: len(all_nodes)], answers[len(all_nodes) :]
    for node, got in zip(all_nodes, flag_answers, strict=True):
        assert set(got) == {f for o in node.options for f in o.flags}, node.path
    for node, got in zip([n for n in all_nodes if n.commands], command_answers, strict=True):
        assert set(got) == set(node.commands), node.path
    assert "run" in command_answers[0] and "completion" in command_answers[0] and "step-runner" not in answers[0]
    values = _bash(
        script,
        [
            ["dag", "train.py", "--format", ""],
            ["stack", ""],
            ["completion", ""],
            ["run", "tr"],
            ["--config", "tr"],
            ["-s", "x"],  # an unknown word is not a command: top-level completion continues
            ["schedule", "create", "--ti"],
            ["run", "--stack", "schedule", "--js"],  # a flag's value is not taken for a command
        ],
        tmp_path,
    )
    assert values == [
        ["text", "mermaid", "dot"],
        ["list", "show", "validate"],
        ["bash", "zsh", "fish"],
        ["train.py"],
        ["train.py"],
        [],
        ["--timezone"],
        ["--json"],
    ]


ZSH_DRIVER = """
compdef() {{ : }}
source {script}
compadd() {{ [[ $1 == -- ]] && shift; print -r -- "values: $*" }}
_describe() {{ local item; for item in ${{(P)4}}; do print -r -- "${{item%%:*}} = ${{item#*:}}"; done }}
_files() {{ print -r -- files }}
comp() {{ words=(flowyml "$@"); CURRENT=$#words; _flowyml; print -- ---; }}
comp ''
comp schedule create --t
comp dag x.py --format ''
comp run ''
"""


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completion_offers_commands_with_their_help(tmp_path: Path):
    script = _script("zsh", tmp_path)
    proc = subprocess.run(
        ["zsh", "-f", "-c", ZSH_DRIVER.format(script=script)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    top, create, fmt, run, _ = proc.stdout.split("---\n")
    assert "run = run a pipeline here, or submit it to a stack" in top.splitlines()
    assert "completion = print a shell completion script (bash, zsh or fish)" in top.splitlines()
    assert "--timezone = IANA time zone of the cron fields (default UTC)" in create.splitlines()
    assert fmt.strip() == "values: text mermaid dot"
    assert run.strip() == "files"
    loaded = subprocess.run(
        ["zsh", "-f", "-c", f"autoload -U compinit && compinit -u && source {script} && print $_comps[flowyml]"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loaded.stdout.strip() == "_flowyml", loaded.stderr  # registered with the real completion system


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completion_through_fish_itself(tmp_path: Path):
    script = _script("fish", tmp_path)

    def complete(line: str) -> list[str]:
        proc = subprocess.run(
            ["fish", "--no-config", "-c", f"source {script}; complete -C {line!r}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()

    top = complete("flowyml ")
    assert "run\trun a pipeline here, or submit it to a stack" in top
    assert len(top) == len(nodes(build_parser())[0].commands)
    assert [c.split("\t")[0] for c in complete("flowyml schedule ")] == ["create", "delete", "list", "pause", "resume"]
    assert "--timezone\tIANA time zone of the cron fields (default UTC)" in complete("flowyml schedule create --t")
    assert [c.split("\t")[0] for c in complete("flowyml dag x.py --format ")] == ["dot", "mermaid", "text"]
    flags = [c.split("\t")[0] for c in complete("flowyml schedule resume --")]
    assert flags == ["--config", "--help", "--json", "--stack"]


def test_run_ids_complete_from_the_run_registry(tmp_path: Path):
    from flowyml.orchestrators.registry import RunRegistry
    from flowyml.plugins.types import RunHandle

    registry = RunRegistry()
    for run_id in ("train-1", "train-2", "eval-1"):
        registry.record(RunHandle(backend="vertex_ai", run_id=run_id, job_id=f"jobs/{run_id}", pipeline_name="p"))
    quiet = flowyml_cli("runs", "-q")  # the backend (not installed for these rows) is not asked
    assert quiet.returncode == 0 and quiet.stdout.split() == ["eval-1", "train-2", "train-1"], quiet.stderr
    env_path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"  # `flowyml` as the user's shell finds it
    script = _script("bash", tmp_path)
    driver = BASH_DRIVER.format(script=script, calls="comp flowyml status tr\ncomp flowyml resume ''")
    env = {**os.environ, "PATH": env_path}
    proc = subprocess.run(["bash", "--norc", "-c", driver], capture_output=True, text=True, timeout=60, env=env)
    assert proc.stdout.splitlines() == ["train-2 train-1", "eval-1 train-2 train-1"], proc.stderr
    if shutil.which("fish"):
        fish = _script("fish", tmp_path)
        got = subprocess.run(
            ["fish", "--no-config", "-c", f"source {fish}; complete -C 'flowyml cancel ev'"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert got.stdout.split() == ["eval-1"], got.stderr
