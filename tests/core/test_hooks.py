"""Each hook spec is dispatched as documented, and the plugin manager explains what goes wrong."""

from __future__ import annotations

import types
import warnings
from pathlib import Path

import attrs
import pytest

from flowyml.artifacts.storage import FileStorage
from flowyml.core.errors import PluginError
from flowyml.core.status import ExecutionStatus
from flowyml.plugins import BackendInfo, LogRecord, RunHandle, StatusReport, StoreInfo, hookimpl
from flowyml.plugins.manager import PluginManager, PluginWarning
from flowyml.plugins.types import JobSpec, PipelineRef, UnitSpec


@attrs.define(frozen=True)
class EchoConfig:
    greeting: str = "hi"


def make_plugin(name: str = "echo") -> types.SimpleNamespace:
    """A complete in-code backend that records how it was called."""
    calls: list[tuple[str, object]] = []

    @hookimpl
    def flowyml_register_backends(register):
        register(BackendInfo(name=name, config_class=EchoConfig, native_states={"DONE": ExecutionStatus.COMPLETED}))

    @hookimpl
    def flowyml_register_stores(register):
        register(StoreInfo(f"{name}mem"))

    @hookimpl
    def flowyml_submit(backend, spec, config):
        if backend != name:
            return None
        calls.append(("submit", config.greeting))
        return RunHandle(backend=name, run_id=spec.run_id, job_id=f"{name}-{spec.run_id}")

    @hookimpl
    def flowyml_status(handle, config):
        if handle.backend != name:
            return None
        return StatusReport(ExecutionStatus.COMPLETED, native_state="DONE")

    @hookimpl
    def flowyml_cancel(handle, config, graceful):
        if handle.backend != name:
            return None
        calls.append(("cancel", graceful))
        return True

    @hookimpl
    def flowyml_logs(handle, config, cursor, follow):
        if handle.backend != name:
            return None
        start = int(cursor or 0)
        return iter([LogRecord(timestamp=1.0, message=f"line {i}", cursor=str(i + 1)) for i in range(start, 3)])

    @hookimpl
    def flowyml_details(handle, config):
        if handle.backend != name:
            return None
        return {"job_id": handle.job_id, "greeting": config.greeting}

    @hookimpl
    def flowyml_storage(uri, settings):
        if not uri.startswith(f"{name}mem://"):
            return None
        return ("storage-for", uri, dict(settings))

    ns = types.SimpleNamespace(**{k: v for k, v in locals().items() if k.startswith("flowyml_")})
    ns.calls = calls
    return ns


@pytest.fixture
def pm() -> PluginManager:
    manager = PluginManager(load_entry_points=False)
    manager.register(make_plugin("echo"), name="echo")
    manager.register(make_plugin("other"), name="other")
    return manager


def spec() -> JobSpec:
    return JobSpec(
        run_id="r1",
        pipeline_name="p",
        pipeline=PipelineRef(module="m"),
        units=[UnitSpec(name="u", steps=["u"])],
        artifact_root="file:///tmp/a",
    )


def handle(backend: str = "echo") -> RunHandle:
    return RunHandle(backend=backend, run_id="r1", job_id=f"{backend}-r1")


def test_hook_register_backends(pm: PluginManager):
    assert {"local", "echo", "other"} <= set(pm.backends)
    assert pm.backend("echo").config_class is EchoConfig
    assert pm.records["echo"].backends == ["echo"]


def test_hook_register_stores(pm: PluginManager):
    assert {"file", "echomem", "othermem"} <= set(pm.stores)


def test_hook_submit(pm: PluginManager):
    assert pm.submit(spec(), "other", EchoConfig("yo")).job_id == "other-r1"
    assert pm.submit(spec(), "echo", EchoConfig()).job_id == "echo-r1"


def test_hook_status(pm: PluginManager):
    report = pm.status(handle(), EchoConfig())
    assert report.status is ExecutionStatus.COMPLETED and report.native_state == "DONE"


def test_hook_status_many(pm: PluginManager):
    batched: list[list[str]] = []

    @hookimpl
    def flowyml_status_many(backend, handles, config):
        if backend != "echo":
            return None
        batched.append([h.run_id for h in handles])
        return {h.run_id: StatusReport(ExecutionStatus.RUNNING) for h in handles if h.run_id != "left-out"}

    pm.register(types.SimpleNamespace(flowyml_status_many=flowyml_status_many), name="echo-batch")
    handles = [RunHandle(backend="echo", run_id=r, job_id=r) for r in ("a", "b", "left-out")]
    reports = pm.status_many("echo", handles, EchoConfig())
    assert batched == [["a", "b", "left-out"]]  # one call for the whole batch
    assert reports["a"].status is ExecutionStatus.RUNNING
    assert reports["left-out"].status is ExecutionStatus.COMPLETED  # asked again through flowyml_status
    other = pm.status_many("other", [RunHandle(backend="other", run_id="x", job_id="x")], EchoConfig())
    assert other["x"].native_state == "DONE"  # no batched hook: run by run


def test_hook_cancel(pm: PluginManager):
    assert pm.cancel(handle("other"), EchoConfig(), graceful=False) is True


def test_hook_logs(pm: PluginManager):
    records = list(pm.logs(handle(), EchoConfig()))
    assert [r.message for r in records] == ["line 0", "line 1", "line 2"]
    assert [r.message for r in pm.logs(handle(), EchoConfig(), cursor=records[0].cursor)] == ["line 1", "line 2"]


def test_hook_details(pm: PluginManager):
    assert pm.details(handle(), EchoConfig("hey")) == {"job_id": "echo-r1", "greeting": "hey"}


def test_hook_storage(pm: PluginManager, tmp_path: Path):
    assert pm.storage("othermem://bucket", {"a": "b"}) == ("storage-for", "othermem://bucket", {"a": "b"})
    assert isinstance(pm.storage(tmp_path.as_uri()), FileStorage)
    with pytest.raises(PluginError, match=r"no installed plugin stores artifacts at .s3://b.*flowyml\[aws\]"):
        pm.storage("s3://b/x")


# -- errors --------------------------------------------------------------------------------------
def test_unknown_backend_lists_installed_ones_and_the_extra_to_install(pm: PluginManager):
    with pytest.raises(PluginError) as info:
        pm.backend("sagemaker")
    msg = str(info.value)
    assert "unknown backend 'sagemaker'" in msg and "echo, local, other" in msg
    assert 'pip install "flowyml[aws]"' in msg
    with pytest.raises(PluginError, match="third-party backend"):
        pm.backend("mystery")


def test_a_plugin_that_fails_to_import_is_reported_and_the_rest_keep_working():
    pm = PluginManager(load_entry_points=False)
    with pytest.warns(PluginWarning, match="'broken' from flowyml-broken 9.9 failed to import"):
        pm._load("broken", "flowyml_no_such_module_xyz.plugin", "flowyml-broken", "9.9")
    assert pm.records["broken"].error.startswith("ModuleNotFoundError")
    assert "local" in pm.backends


def test_a_hook_this_core_does_not_know_is_warned_about_and_ignored():
    plugin = make_plugin("future")

    @hookimpl
    def flowyml_teleport(run):
        return "whoosh"

    plugin.flowyml_teleport = flowyml_teleport
    pm = PluginManager(load_entry_points=False)
    with pytest.warns(PluginWarning, match="flowyml_teleport"):
        pm.register(plugin, name="future")
    assert "future" in pm.backends  # the rest of the plugin works


def test_a_backend_needing_a_newer_contract_is_skipped():
    @hookimpl
    def flowyml_register_backends(register):
        register(BackendInfo(name="tomorrow", config_class=EchoConfig, contract_version=99))

    pm = PluginManager(load_entry_points=False)
    with pytest.warns(PluginWarning, match="needs plugin contract v99"):
        pm.register(types.SimpleNamespace(flowyml_register_backends=flowyml_register_backends), name="tomorrow")
    assert "tomorrow" not in pm.backends


def test_a_missing_sdk_names_the_extra():
    @hookimpl
    def flowyml_register_backends(register):
        register(BackendInfo(name="aws_batch", config_class=EchoConfig))

    @hookimpl
    def flowyml_submit(backend, spec, config):
        if backend != "aws_batch":
            return None
        raise ModuleNotFoundError("No module named 'boto3'", name="boto3")

    pm = PluginManager(load_entry_points=False)
    pm.register(
        types.SimpleNamespace(flowyml_register_backends=flowyml_register_backends, flowyml_submit=flowyml_submit),
        name="fake-aws",
    )
    with pytest.raises(PluginError, match=r"needs the package 'boto3'.*pip install \"flowyml\[aws\]\""):
        pm.submit(spec(), "aws_batch", EchoConfig())


def test_disable_and_load_plugins_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FLOWYML_DISABLE_PLUGINS", "local")
    assert "local" not in PluginManager(load_entry_points=False).backends
    monkeypatch.delenv("FLOWYML_DISABLE_PLUGINS")
    monkeypatch.setenv("FLOWYML_LOAD_PLUGINS", "nothing-else")
    pm = PluginManager()
    assert set(pm.backends) == {"local"}  # built-ins always load; entry points only if listed


def test_a_backend_without_an_operation_says_so():
    @hookimpl
    def flowyml_register_backends(register):
        register(BackendInfo(name="submit-only", config_class=EchoConfig))

    pm = PluginManager(load_entry_points=False)
    pm.register(types.SimpleNamespace(flowyml_register_backends=flowyml_register_backends), name="so")
    with pytest.raises(PluginError, match="'submit-only' does not implement status"):
        pm.status(handle("submit-only"), EchoConfig())


def test_the_built_in_plugin_registers_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pm = PluginManager(load_entry_points=False)
    assert pm.records["local"].distribution == "flowyml-core"
    assert "flowyml_submit" in pm.records["local"].hooks
