"""Every code block of the docs (README.md, docs/**, the distributions' READMEs) is run by a test.

```python blocks: a page's blocks run in page order as one program, in a core-only environment: a
fresh venv whose site-packages holds flowyml-core and its dependencies and nothing else (no cloud
SDK, no backend plugin), so a block that claims to need only core is proved to.

```bash blocks: each command runs in that environment, in a scratch folder holding the repository's
``examples``; ``RUN_ID`` (and ``<run-id>``) is the id the block's ``--detach`` run printed.

```yaml blocks with ``stacks:`` load as a flowyml.yaml (every backend installed); ```toml blocks parse.

A block needing more says so in the comment right above it (directives separated by ``;``), and
the test checks each claim:

    <!-- docs-test: needs numpy -->            installed for that page (from this environment)
    <!-- docs-test: after docs/quickstart.md --> the page's program starts with that page's blocks
    <!-- docs-test: file my_pipeline.py = docs/quickstart.md[1] -->   (bash) that page's 1st python block, as a file
    <!-- docs-test: not-run: REASON -->        not run here, for a REASON this test checks:
        cloud aws|gcp|azure|ray: ...            the block uses that cloud's module, CLI or stack
        runs in tests/...py: ...                that test exists and reads this page (or runs its commands)
        excerpt of PATH                         the block is a verbatim excerpt of PATH (which its tests run)
        needs PACKAGE: ...                      the block imports PACKAGE, and no distribution here needs it
        repo script: ...                        every command is a script of this repository (or git clone)
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata as md
import itertools
import os
import re
import shlex
import subprocess
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    str(p.relative_to(ROOT))
    for p in [ROOT / "README.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("flowyml-*/README.md")]
)
FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
MARK = re.compile(r"<!-- docs-test: (.*?) -->\s*\Z", re.S)
CLOUDS = {"aws": ("flowyml.stacks.aws", "flowyml_aws"), "gcp": ("flowyml.stacks.gcp", "flowyml_gcp")}
CLOUDS["azure"] = ("flowyml.stacks.azure", "flowyml_azure")


class Block:
    def __init__(self, page: str, line: int, lang: str, info: str, code: str, mark: str | None) -> None:
        self.page, self.line, self.lang, self.info, self.code = page, line, lang, info, code
        self.directives = [d.strip() for d in mark.split(";")] if mark else []

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    def _values(self, prefix: str) -> list[str]:
        return [d.removeprefix(prefix).strip() for d in self.directives if d.startswith(prefix)]

    @property
    def not_run(self) -> str | None:
        return next(iter(self._values("not-run:")), None)

    @property
    def after(self) -> str | None:
        return next(iter(self._values("after ")), None)

    @property
    def needs(self) -> list[str]:
        return [name for value in self._values("needs ") for name in value.split()]

    @property
    def files(self) -> dict[str, str]:
        return dict(tuple(part.strip() for part in value.split("=", 1)) for value in self._values("file "))  # type: ignore[misc]

    def unknown_directives(self) -> list[str]:
        known = ("not-run:", "after ", "needs ", "file ")
        return [d for d in self.directives if not d.startswith(known)]


def blocks(page: str) -> list[Block]:
    text = (ROOT / page).read_text()
    found = []
    for m in FENCE.finditer(text):
        mark = MARK.search(text[max(0, m.start() - 300) : m.start()])
        line = text.count("\n", 0, m.start()) + 2  # the block's first line of code
        found.append(Block(page, line, m.group(1), m.group(2).strip(), m.group(3), mark.group(1) if mark else None))
    return found


def python_blocks() -> Iterator[Block]:
    for page in PAGES:
        yield from (b for b in blocks(page) if b.lang == "python")


def bash_blocks() -> Iterator[Block]:
    for page in PAGES:
        yield from (b for b in blocks(page) if b.lang in ("bash", "sh", "shell", "console"))


def commands(block: Block) -> list[list[str]]:
    """The block's commands (continuations joined, comments dropped; ``;``, ``&&``, ``&`` end one), as words."""
    found: list[list[str]] = []
    for line in block.code.replace("\\\n", " ").splitlines():
        command: list[str] = []
        for word in shlex.split(line, comments=True):
            end = word in ("&&", "&", ";") or word.endswith(";")
            word = word.rstrip(";") if word not in ("&&", "&") else ""
            if word:
                command.append(word)
            if end and command:
                found.append(command)
                command = []
        if command:
            found.append(command)
    return found


def file_block(source: str) -> Block | None:
    """``docs/quickstart.md[1]``: that page's first python block."""
    m = re.fullmatch(r"(\S+)\[(\d+)\]", source)
    found = [b for b in blocks(m.group(1)) if b.lang == "python"] if m and (ROOT / m.group(1)).is_file() else []
    return found[int(m.group(2)) - 1] if m and 0 < int(m.group(2)) <= len(found) else None


ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def program_of(command: list[str]) -> str:
    """The program a command runs (after leading ``NAME=value`` environment assignments)."""
    return next((w for w in command if not ASSIGNMENT.match(w)), "")


def runnable_pages() -> list[str]:
    return sorted({b.page for b in python_blocks() if not b.not_run})


# --- the core-only environment ---------------------------------------------------------------


def _requirements(dist: md.Distribution, extras: set[str]) -> Iterator[str]:
    for text in dist.requires or []:
        req = Requirement(text)
        env = {key: str(value) for key, value in default_environment().items()}
        if req.marker and not any(req.marker.evaluate({**env, "extra": e}) for e in extras | {""}):
            continue
        yield req.name


def closure(roots: list[str]) -> list[md.Distribution]:
    """The installed distributions ``roots`` need (``name[extra]`` allowed), themselves included."""
    todo = [Requirement(r) for r in roots]
    seen: dict[str, md.Distribution] = {}
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        dist = md.distribution(req.name)
        seen[name] = dist
        todo += [Requirement(n) for n in _requirements(dist, set(req.extras))]
    return list(seen.values())


@functools.cache
def environment(extra: tuple[str, ...], base: Path) -> Path:
    """A venv with flowyml-core, ``extra`` and their dependencies only; its python."""
    folder = base / ("core" + "".join(f"+{e}" for e in extra))
    venv.EnvBuilder(with_pip=False, symlinks=True).create(folder)
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], capture_output=True, text=True
    ).stdout.strip()
    site = Path(purelib)
    for dist in closure(["flowyml-core", *extra]):
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        root = Path(str(dist.locate_file("")))
        for top in tops:
            if not (site / top).exists() and (root / top).exists():
                (site / top).symlink_to(root / top)
    script = folder / "bin" / "flowyml"
    script.write_text(f"#!{python}\nimport sys\nfrom flowyml.cli.main import main\nsys.exit(main())\n")
    script.chmod(0o755)
    return python


@pytest.fixture(scope="module")
def envs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("docs-envs")


def test_the_core_only_environment_has_no_cloud_sdk_and_no_backend_plugin(envs: Path) -> None:
    python = environment((), envs)
    probe = (
        "import importlib.util, importlib.metadata as md, flowyml\n"
        "from flowyml.plugins.manager import get_plugin_manager\n"
        "for m in ('boto3', 'google.cloud', 'azure', 'ray', 'flowyml_aws', 'flowyml_gcp', 'numpy', 'pytest'):\n"
        "    assert importlib.util.find_spec(m.split('.')[0]) is None, m\n"
        "print(sorted(e.name for e in md.entry_points(group='flowyml')))\n"
        "print(sorted(get_plugin_manager().backends))\n"
    )
    proc = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=60, cwd=envs)
    assert proc.returncode == 0, proc.stderr
    plugins, backends = proc.stdout.splitlines()
    assert plugins == "['local']"  # flowyml-core's own entry point, no other distribution's
    backend_names = set(ast.literal_eval(backends))
    assert "local" in backend_names and not {"aws_batch", "sagemaker", "vertex_ai", "azureml", "ray"} & backend_names


# --- the blocks ------------------------------------------------------------------------------


CLOUD_WORDS = {
    "aws": ("flowyml.stacks.aws", "flowyml_aws", "aws "),
    "gcp": ("flowyml.stacks.gcp", "flowyml_gcp", "gcloud "),
    "azure": ("flowyml.stacks.azure", "flowyml_azure", "az "),
    "ray": ("flowyml.stacks.ray", "flowyml_ray", "ray"),
}


def check_directives(block: Block) -> None:
    """Each directive is known; the REASON of a ``not-run`` holds for the block."""
    assert not block.unknown_directives(), f"{block.where}: unknown docs-test directive {block.unknown_directives()}"
    if block.after:
        assert block.after in runnable_pages(), f"{block.where}: after {block.after}: not a page with runnable blocks"
    for name, source in block.files.items():
        assert file_block(source), f"{block.where}: file {name}: no such python block {source}"
    reason = block.not_run
    if reason is None:
        return
    where = f"{block.where}: not-run: {reason}"
    if m := re.match(r"cloud (aws|gcp|azure|ray): \S", reason):
        module, package, cli = CLOUD_WORDS[m.group(1)]
        used: tuple[str, ...] = (f"import {module}", f"from {module}", f"import {package}", f"from {package}")
        if block.lang != "python":
            used = (cli, "--stack ")
        assert any(word in block.code for word in used), f"{where}: the block uses nothing of {m.group(1)}"
    elif m := re.match(r"runs in (tests/\S+\.py): \S", reason):
        test = ROOT / m.group(1)
        assert test.is_file(), f"{where}: no such test"
        text = test.read_text()
        words = [w for w in block.code.split() if w.startswith("--") or ("/" in w and not w.startswith("<"))]
        globbed = block.page.startswith("docs/") and "docs/**/*.md" in text
        readme = block.page.startswith("flowyml-") and "flowyml-*/README.md" in text
        assert Path(block.page).name in text or globbed or readme or any(w in text for w in words), (
            f"{where}: that test neither reads {block.page} nor runs its commands"
        )
    elif m := re.match(r"excerpt of (\S+)$", reason):
        original = ROOT / m.group(1)
        assert original.is_file(), f"{where}: no such file"
        assert block.code.strip() in original.read_text(), f"{where}: the block is not in {m.group(1)} as written"
    elif m := re.match(r"needs ([\w-]+): \S", reason):
        package = m.group(1)
        assert re.search(rf"^\s*(from|import) {package}\b", block.code, re.M), f"{where}: no import of {package}"
        ours = {canonicalize_name(d.metadata["Name"]) for d in closure(["flowyml[all]"])}
        assert canonicalize_name(package) not in ours, f"{where}: flowyml[all] installs {package}: run the block"
    elif re.match(r"repo script: \S", reason):
        for command in commands(block):
            script = ROOT / command[0]
            ok = (
                command[:2] == ["git", "clone"]
                or command[0] == "cd"
                or (script.is_file() and os.access(script, os.X_OK))
            )
            assert ok, f"{where}: {' '.join(command)} is not a script of this repository"
    else:
        raise AssertionError(
            f"{where}: say why (cloud X: / runs in tests/..: / excerpt of PATH / needs PKG: / repo script:)"
        )


def test_every_python_block_is_run_or_says_why_not() -> None:
    found = list(python_blocks())
    assert len(found) >= 45, len(found)
    for block in found:
        check_directives(block)


def test_every_bash_block_is_run_or_says_why_not() -> None:
    found = list(bash_blocks())
    assert len(found) >= 25, len(found)
    for block in found:
        check_directives(block)
        if block.not_run is None:
            flowyml = all(program_of(c).removeprefix(".venv/bin/") == "flowyml" for c in commands(block))
            assert flowyml, f"{block.where}: only flowyml commands run here; mark the others not-run (why)"


def runnable(page: str) -> list[Block]:
    """The page's blocks that run, after those of the page it says it follows."""
    own = [b for b in blocks(page) if b.lang == "python" and not b.not_run]
    first = [runnable(b.after) for b in own if b.after]
    return [*(b for blocks_ in first for b in blocks_), *own]


def program(page: str) -> str:
    """The page's runnable blocks as one script; a traceback names the page and its line numbers.

    A block that starts the local scheduler (docs/schedules.md) leaves it running: the script stops
    it at the end (its own child, by PID), when run as the main program, not when a step-runner
    imports it.
    """
    code = [(b.where, b.line, b.code) for b in runnable(page)]
    return (
        "import sys\n"
        f"_BLOCKS = {code!r}\n"
        "try:\n"
        "    for _where, _line, _code in _BLOCKS:\n"
        "        try:\n"
        "            exec(compile('\\n' * (_line - 1) + _code, _where.split(':')[0], 'exec'), globals())\n"
        "        except BaseException:\n"
        "            print(f'docs block {_where} failed', file=sys.stderr)\n"
        "            raise\n"
        "finally:\n"
        "    if __name__ == '__main__':\n"
        "        import signal\n"
        "        from flowyml.backends.local import schedules as _schedules\n"
        "        _pid = _schedules.scheduler_pid()\n"
        "        if _pid is not None and _pid.is_alive():\n"
        "            _pid.kill_group(signal.SIGTERM)\n"
    )


@pytest.mark.parametrize("page", runnable_pages())
def test_the_python_of_a_page_runs_in_a_core_only_install(page: str, envs: Path, tmp_path: Path) -> None:
    needs = tuple(sorted({n for b in runnable(page) for n in b.needs}))
    python = environment(needs, envs)
    script = tmp_path / "page_program.py"
    script.write_text(program(page))
    env = {
        **os.environ,
        "FLOWYML_HOME": str(tmp_path / "home"),
        "FLOWYML_RETRY_BASE_DELAY": "0.01",
        "FLOWYML_BACKEND_RETRY_DELAY": "0.01",
        "PYTHONPATH": str(ROOT),  # `examples` (docs/schedules.md imports examples.digits)
        "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for name in ("FLOWYML_CONFIG", "FLOWYML_STACK", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(name, None)
    proc = subprocess.run([python, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, f"{page} (core{''.join('+' + n for n in needs)}):\n{proc.stdout}\n{proc.stderr}"


RUN_ID = ("RUN_ID", "<run-id>")


def distinct_bash_blocks() -> list[str]:
    """Runnable bash blocks, one per command sequence (README.md and the quickstart show the same one)."""
    seen: dict[tuple[tuple[str, ...], ...], str] = {}
    for block in bash_blocks():
        if block.not_run is None:
            key = tuple(tuple(w.removeprefix(".venv/bin/") for w in c) for c in commands(block))
            seen.setdefault(key, block.where)
    return list(seen.values())


@pytest.mark.parametrize("where", distinct_bash_blocks())
def test_the_commands_of_a_bash_block_run_in_a_core_only_install(where: str, envs: Path, tmp_path: Path) -> None:
    page, _, line = where.rpartition(":")
    block = next(b for b in blocks(page) if str(b.line) == line)
    python = environment(tuple(sorted(block.needs)), envs)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    for name, source in block.files.items():
        (tmp_path / name).write_text(file_block(source).code)  # type: ignore[union-attr]
    env = {**os.environ, "FLOWYML_HOME": str(tmp_path / "home"), "FLOWYML_BACKEND_RETRY_DELAY": "0.01"}
    env |= {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}  # scikit-learn: no thread storm on a shared CI box
    env["PATH"] = f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    for name in ("FLOWYML_CONFIG", "FLOWYML_STACK", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH"):
        env.pop(name, None)
    run_id = None
    try:
        for command in commands(block):
            if any(w in RUN_ID for w in command):
                assert run_id, f"{where}: {' '.join(command)} needs the id of a --detach run before it"
                command = [run_id if w in RUN_ID else w for w in command]
            assignments = list(itertools.takewhile(ASSIGNMENT.match, command))
            argv = [str(python.parent / "flowyml"), *command[len(assignments) + 1 :]]
            extra = dict(a.split("=", 1) for a in assignments)
            proc = subprocess.run(argv, cwd=tmp_path, env=env | extra, capture_output=True, text=True, timeout=240)
            assert proc.returncode == 0, (
                f"{where}: {shlex.join(command)} -> {proc.returncode}\n{proc.stdout}{proc.stderr}"
            )
            if "--detach" in command:
                run_id = proc.stdout.split()[0]
    finally:
        stop = "from flowyml.backends.local import schedules as s; import signal; p = s.scheduler_pid(); "
        stop += "p is not None and p.is_alive() and p.kill_group(signal.SIGTERM)"
        subprocess.run([python, "-c", stop], env=env, cwd=tmp_path, timeout=60)


def test_every_flowyml_yaml_block_loads_and_every_toml_block_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ```yaml block with ``stacks:`` is a flowyml.yaml: it loads with every backend installed (as here)."""
    import yaml

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    from flowyml.config.loader import parse_config

    loaded = 0
    for page in PAGES:
        for block in blocks(page):
            if block.lang == "toml":
                tomllib.loads(block.code)
            if block.lang != "yaml":
                continue
            data = yaml.safe_load(block.code)
            if not (isinstance(data, dict) and "stacks" in data):
                continue
            for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", block.code):
                monkeypatch.setenv(name, "x")  # a reference without a default: the reader's own value
            config = parse_config(data, block.where)
            for stack in data["stacks"]:
                assert config.orchestrator(stack).config is not None, f"{block.where}: stack {stack}"
            loaded += 1
    assert loaded >= 12, loaded
