"""Contract v2's structural promises (issue 18), checked on the repository's own code.

No hook implementation dispatches by backend name or URI scheme; there is no import cycle between
``flowyml.aio`` and ``flowyml.orchestrators``; nothing that talks to a backend has a poll loop of
its own besides ``flowyml.plugins.polling`` / ``retry``; the store registration is typed.
"""

from __future__ import annotations

import ast
import re
import subprocess
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "flowyml-core" / "src"


def _tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *patterns], cwd=REPO, capture_output=True, text=True, check=True)
    return [REPO / line for line in out.stdout.split() if (REPO / line).is_file()]


def _hookimpls(tree: ast.Module) -> Iterator[ast.FunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(
            (isinstance(d, ast.Name) and d.id == "hookimpl") or (isinstance(d, ast.Attribute) and d.attr == "hookimpl")
            for d in node.decorator_list
        ):
            yield node


def _dispatching(fn: ast.FunctionDef) -> list[str]:
    """What in a hook implementation would make it choose by name or scheme."""
    found = []
    for node in ast.walk(fn):
        if isinstance(node, (ast.If, ast.IfExp, ast.Compare, ast.Match)):
            found.append(f"line {node.lineno}: {ast.unparse(node).splitlines()[0]}")
        elif isinstance(node, ast.Return) and node.value is not None:
            found.append(f"line {node.lineno}: returns {ast.unparse(node.value)}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("startswith", "endswith", "partition", "split")
        ):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_no_hook_implementation_in_the_repository_dispatches_by_name_or_scheme() -> None:
    """Every @hookimpl (core, cloud plugins, the example, tests' plugins) only registers: no
    ``if backend != NAME``, no ``uri.startswith("s3://")``, no ``return None`` to pass a call on."""
    impls, offenders = 0, []
    for path in _tracked("*.py"):
        text = path.read_text()
        if "hookimpl" not in text:
            continue
        for fn in _hookimpls(ast.parse(text)):
            impls += 1
            assert fn.name.startswith("flowyml_register_"), f"{path}:{fn.lineno}: {fn.name} is not a contract v2 hook"
            offenders += [f"{path.relative_to(REPO)}:{fn.name} {what}" for what in _dispatching(fn)]
    assert impls >= 10, f"found only {impls} hook implementations: the scan is broken"
    assert not offenders, "hook implementations that dispatch:\n" + "\n".join(offenders)


def _module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(src: Path) -> dict[str, set[str]]:
    """Module -> the flowyml modules it imports anywhere (lazy imports too), TYPE_CHECKING blocks left out.

    Importing ``a.b.c`` imports the packages ``a`` and ``a.b`` first, so those count as well."""
    paths = {_module_name(p, src): p for p in (src / "flowyml").rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in paths}
    for name, path in paths.items():
        tree = ast.parse(path.read_text())
        typing_only = {
            id(n)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for n in ast.walk(block)
        }
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if id(node) in typing_only or not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    here = name.split(".") if is_package else name.split(".")[:-1]
                    here = here[: len(here) - (node.level - 1)]
                    base = ".".join(here + ([node.module] if node.module else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for target in targets:
                parts = target.split(".")
                for i in range(1, len(parts) + 1):
                    prefix = ".".join(parts[:i])
                    if prefix in paths and prefix != name:
                        graph[name].add(prefix)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_no_import_cycle_between_aio_and_orchestrators() -> None:
    """Counting lazy imports inside functions too: no set of modules that import each other in a
    circle contains both an ``aio`` and an ``orchestrators`` module (a 12-file cycle before v2)."""
    graph = _imports(CORE)
    assert graph.get("flowyml.orchestrators.asyncops"), "the import scan found nothing"
    for component in _cycles(graph):
        packages = {m.split(".")[1] for m in component if m.count(".") >= 1}
        assert not {"aio", "orchestrators"} <= packages, f"import cycle between aio and orchestrators: {component}"
    reaches_aio = {m for m in graph if m.startswith("flowyml.orchestrators") for t in graph[m] if ".aio" in t}
    assert all(t == "flowyml.aio.threads" or t == "flowyml.aio" for m in reaches_aio for t in graph[m] if ".aio" in t)
    assert not any(t.startswith("flowyml.") for t in graph["flowyml.aio.threads"]), "aio.threads must stay a leaf"


#: Files that legitimately wait in a loop: the owners of waiting, and code that is the service itself.
_WAITING_ALLOWED = {
    "flowyml-core/src/flowyml/plugins/polling.py": "the one poll loop, sync and async, and the log follower",
    "flowyml-core/src/flowyml/plugins/retry.py": "the one retry loop for SDK calls",
    "flowyml-core/src/flowyml/orchestrators/retries.py": "the retry policy's pause between attempts of a run",
    "flowyml-ray/src/flowyml_ray/testing.py": "starts and stops a local Ray cluster for tests (not a run)",
}


def _sleeping_loops(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.While):
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "sleep":
                    lines.append(node.lineno)
                    break
    return lines


def test_nothing_that_talks_to_a_backend_has_a_poll_loop_of_its_own() -> None:
    """Waiting for a service (status, cancel, logs, a state in the kit) goes through
    ``flowyml.plugins.polling``; retrying an SDK call through ``flowyml.plugins.retry``. A
    ``while`` loop that sleeps anywhere else in core's orchestrators, CLI, plugins and kit, or in a
    backend plugin, is a second copy."""
    scope = _tracked(
        "flowyml-core/src/flowyml/orchestrators/*.py",
        "flowyml-core/src/flowyml/cli/*.py",
        "flowyml-core/src/flowyml/plugins/*.py",
        "flowyml-core/src/flowyml/testing/*.py",
        "flowyml-aws/src/*.py",
        "flowyml-gcp/src/*.py",
        "flowyml-azure/src/*.py",
        "flowyml-ray/src/*.py",
        "examples/third_party_plugin/src/flowyml_httpjobs/backend.py",
    )
    assert len(scope) > 50
    offenders = [
        f"{path.relative_to(REPO)}:{line}"
        for path in scope
        if str(path.relative_to(REPO)) not in _WAITING_ALLOWED
        for line in _sleeping_loops(path)
    ]
    assert not offenders, "poll loops outside flowyml.plugins.polling/retry:\n" + "\n".join(offenders)


_BACKEND_SOURCES = (
    "flowyml-aws/src/*.py",
    "flowyml-gcp/src/*.py",
    "flowyml-azure/src/*.py",
    "flowyml-ray/src/*.py",
    "examples/third_party_plugin/src/*.py",
)


def _module_dicts(tree: ast.Module) -> set[str]:
    """Names bound at module level to an empty dict (``{}`` or ``dict()``)."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            value = node.value
            empty = (isinstance(value, ast.Dict) and not value.keys) or (
                isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict"
            )
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if empty and isinstance(t, ast.Name)}
    return names


def _client_caches(source: str) -> list[str]:
    """Functions that memoise into a module-level dict: look a key up in it and store into it (the
    dict + lock client cache that ``flowyml.plugins.clients.ClientCache`` is the one copy of)."""
    tree = ast.parse(source)
    dicts = _module_dicts(tree)
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        reads, stores = set(), set()
        for node in ast.walk(fn):
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in dicts:
                (stores if isinstance(node.ctx, ast.Store) else reads).add(node.value.id)
            elif isinstance(node, ast.Compare) and any(isinstance(op, ast.In | ast.NotIn) for op in node.ops):
                reads |= {c.id for c in node.comparators if isinstance(c, ast.Name) and c.id in dicts}
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in dicts
                and node.func.attr in ("get", "setdefault")
            ):
                reads.add(node.func.value.id)
                if node.func.attr == "setdefault":
                    stores.add(node.func.value.id)
        found += [f"{fn.name}() line {fn.lineno}: {name}" for name in sorted(reads & stores)]
    return found


def test_the_client_cache_finder_finds_a_dict_and_lock_cache() -> None:
    old_shape = (
        "import threading\n_CLIENTS: dict[str, object] = {}\n_LOCK = threading.Lock()\n"
        "def client(key):\n    with _LOCK:\n        if key not in _CLIENTS:\n"
        "            _CLIENTS[key] = object()\n        return _CLIENTS[key]\n"
    )
    assert _client_caches(old_shape) == ["client() line 4: _CLIENTS"]
    assert _client_caches("_C = dict()\ndef f(k):\n    return _C.setdefault(k, 1)\n") == ["f() line 2: _C"]
    registry_only = "_OBJECTS = {}\ndef put(k, v):\n    _OBJECTS[k] = v\ndef get(k):\n    return _OBJECTS[k]\n"
    assert _client_caches(registry_only) == []


def test_no_backend_keeps_a_client_cache_of_its_own() -> None:
    """SDK clients, sessions and credentials are cached with ``flowyml.plugins.clients.ClientCache``
    (one lock, one place): a module-level dict a backend function both looks up and fills is a copy."""
    scope = _tracked(*_BACKEND_SOURCES)
    assert len(scope) > 40
    offenders = [f"{path.relative_to(REPO)}: {hit}" for path in scope for hit in _client_caches(path.read_text())]
    assert not offenders, "client caches besides flowyml.plugins.clients.ClientCache:\n" + "\n".join(offenders)


def test_no_backends_logs_module_says_it_follows_a_run() -> None:
    """Core follows a run's logs (``flowyml.plugins.polling``); a backend reads one pass after a cursor."""
    scope = [p for p in _tracked(*_BACKEND_SOURCES) if p.name == "logs.py"]
    assert len(scope) >= 4
    for path in scope:
        doc = (ast.get_docstring(ast.parse(path.read_text())) or "").lower().replace("core follows", "")
        assert "follow" not in doc, f"{path.relative_to(REPO)}'s docstring says it follows a run: core does"


def test_store_registration_is_typed_with_storage_not_any() -> None:
    """``flowyml_register_stores``' ``register(scheme, factory)`` and ``StoreRegistration.factory``
    say the factory returns a ``Storage`` (mypy checks every plugin's factory against it)."""
    import collections.abc

    from flowyml.artifacts.storage import Storage
    from flowyml.plugins import backend, hookspecs

    names = {**vars(backend), "Storage": Storage}
    for hints in (
        typing.get_type_hints(backend.StoreRegistration, names),
        typing.get_type_hints(hookspecs.RegisterStore.__call__, {**vars(hookspecs), **names}),
    ):
        factory = hints["factory"]
        assert typing.get_origin(factory) is collections.abc.Callable, factory
        params, returns = typing.get_args(factory)
        assert returns is Storage and params[0] is str, factory


@pytest.mark.parametrize("hook", ["flowyml_register_backends", "flowyml_register_stores", "flowyml_register_secrets"])
def test_hook_specs_take_a_typed_register_callable(hook: str) -> None:
    from flowyml.plugins import hookspecs

    hints = typing.get_type_hints(getattr(hookspecs, hook), vars(hookspecs))
    assert hints["register"] is not typing.Any and hints["register"].__name__.startswith("Register")


def test_flowymls_own_errors_derive_from_flowyml_error() -> None:
    """``StepTimeoutError`` and ``BatchFailedError`` too, so ``except FlowymlError`` catches every
    error flowyml raises on purpose (``StopExecution`` is a signal a step raises, not an error)."""
    from flowyml.aio.many import BatchFailedError
    from flowyml.core import errors
    from flowyml.core.executor import StepTimeoutError

    assert issubclass(StepTimeoutError, errors.FlowymlError) and issubclass(StepTimeoutError, TimeoutError)
    assert issubclass(BatchFailedError, errors.FlowymlError)
    for name in errors.__all__:
        if name != "StopExecution":
            assert issubclass(getattr(errors, name), errors.FlowymlError), name


def test_run_layout_is_the_one_spelling_of_a_runs_keys() -> None:
    """``RunLayout`` gives every key of a run; ``UnitResult`` is frozen and round-trips."""
    import attrs

    from flowyml.core.errors import ArtifactError
    from flowyml.orchestrators.layout import RunLayout, StepRecord, UnitResult

    layout = RunLayout("r1")
    assert layout.spec == "runs/r1/job.json" and layout.outcome == "runs/r1/outcome.json"
    assert layout.unit_result("prep") == "runs/r1/units/prep.json" and layout.units_prefix == "runs/r1/units/"
    assert layout.output("train", "data/raw") == "runs/r1/outputs/train/data%2Fraw"
    assert layout.input("rows") == "runs/r1/inputs/rows"
    assert RunLayout.artifact_root_of("s3://b/p/runs/r1/job.json") == "s3://b/p"
    for bad in ("../r1", "a/b", ""):
        with pytest.raises(ArtifactError):
            RunLayout(bad)
    with pytest.raises(ArtifactError):
        RunLayout.artifact_root_of("s3://b/p/runs/r1/units/u.json")
    result = UnitResult("prep", False, "step 'x' failed", [StepRecord("x", False, error="boom")], 1.0, 2.0, 1)
    assert UnitResult.from_dict(result.to_dict()) == result
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        result.success = True  # type: ignore[misc]


def _string_parts(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):
            yield node.lineno, "".join(v.value for v in node.values if isinstance(v, ast.Constant))


#: ``runs/<id>`` at the start of a key, ``job.json``, ``outcome.json``, ``units/<unit>.json`` (a
#: service's REST path such as ``.../pipelines/runs/<id>`` is not an artifact key)
_LAYOUT_KEY = re.compile(r"(?:^|[^\w/.-])runs/|job\.json|outcome\.json|units/.*\.json")


def test_no_module_but_run_layout_spells_the_artifact_store_layout() -> None:
    """No code besides ``orchestrators/layout.py`` writes ``runs/...``, ``job.json``, ``units/`` or
    ``outcome.json`` keys (docstrings aside). The local backend's own run directory under
    ``$FLOWYML_HOME/local`` is its private state, not the artifact store."""
    scope = _tracked(
        "flowyml-core/src/*.py",
        "flowyml-aws/src/*.py",
        "flowyml-gcp/src/*.py",
        "flowyml-azure/src/*.py",
        "flowyml-ray/src/*.py",
        "examples/third_party_plugin/src/*.py",
    )
    allowed = ("flowyml-core/src/flowyml/orchestrators/layout.py", "flowyml-core/src/flowyml/backends/local/")
    offenders = []
    for path in scope:
        rel = str(path.relative_to(REPO))
        if rel.startswith(allowed) or rel.endswith("testing/storage.py"):  # the storage suite's own sample keys
            continue
        tree = ast.parse(path.read_text())
        docstrings = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if id(node) in docstrings:
                continue
            for line, text in _string_parts(node) if isinstance(node, (ast.Constant, ast.JoinedStr)) else ():
                if _LAYOUT_KEY.search(text):
                    offenders.append(f"{rel}:{line}: {text!r}")
    assert not offenders, "run layout keys spelled outside RunLayout:\n" + "\n".join(sorted(set(offenders)))


def test_the_testing_extra_declares_pytest_and_ci_checks_types_and_format() -> None:
    """``pip install "flowyml-core[testing]"`` brings the kit's pytest; CI runs ``ruff format
    --check .`` and mypy over every distribution's ``src`` (the root pyproject's config)."""
    import importlib.metadata

    requires = importlib.metadata.requires("flowyml-core") or []
    assert any(r.startswith("pytest") and "testing" in r.partition(";")[2] for r in requires), requires
    script = (REPO / "scripts" / "test").read_text()
    assert "ruff format --check ." in script and "-m mypy" in script
    assert "scripts/test" in (REPO / ".ci" / "run").read_text()
    config = (REPO / "pyproject.toml").read_text().split("[tool.mypy]", 1)[1].split("\n[", 1)[0]
    for src in (
        "flowyml-core",
        "flowyml-aws",
        "flowyml-gcp",
        "flowyml-azure",
        "flowyml-ray",
        "examples/third_party_plugin",
    ):
        assert f'"{src}/src"' in config, f"mypy does not check {src}/src"
