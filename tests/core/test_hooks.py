"""Contract v2: plugins register objects, core dispatches by name and scheme and explains failures."""

from __future__ import annotations

import http.client
import types
import warnings
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from flowyml.artifacts.storage import FileStorage
from flowyml.core.errors import (
    AuthError,
    BackendError,
    PluginError,
    TransientBackendError,
    UnknownBackendError,
)
from flowyml.core.status import ExecutionStatus
from flowyml.plugins import Backend, LogRecord, RunHandle, StatusReport, hookimpl
from flowyml.plugins import retry as retry_mod
from flowyml.plugins.manager import PluginManager, PluginWarning
from flowyml.plugins.types import JobSpec, PipelineRef, UnitSpec


@attrs.define(frozen=True)
class EchoConfig:
    greeting: str = "hi"


class EchoBackend(Backend):
    """A complete in-code backend that records how it was called."""

    config_class = EchoConfig
    native_states = {"DONE": ExecutionStatus.COMPLETED}

    def __init__(self, name: str) -> None:
        self.name = name  # type: ignore[misc]
        self.calls: list[tuple[str, object]] = []
        self.finished = True

    def submit(self, spec: JobSpec, config: EchoConfig) -> RunHandle:
        self.calls.append(("submit", config.greeting))
        return RunHandle(backend=self.name, run_id=spec.run_id, job_id=f"{self.name}-{spec.run_id}")

    def status(self, handle: RunHandle, config: EchoConfig) -> StatusReport:
        self.calls.append(("status", handle.run_id))
        state = ExecutionStatus.COMPLETED if self.finished else ExecutionStatus.RUNNING
        return StatusReport(state, native_state="DONE")

    def cancel(self, handle: RunHandle, config: EchoConfig, graceful: bool) -> bool:
        self.calls.append(("cancel", graceful))
        return True

    def logs(self, handle: RunHandle, config: EchoConfig, cursor: str | None) -> Iterator[LogRecord]:
        self.calls.append(("logs", cursor))
        for i in range(int(cursor or 0), 3):
            yield LogRecord(timestamp=1.0, message=f"line {i}", cursor=str(i + 1))

    def details(self, handle: RunHandle, config: EchoConfig) -> dict[str, str]:
        return {"job_id": handle.job_id, "greeting": config.greeting}


def make_plugin(*names: str) -> types.SimpleNamespace:
    backends = [EchoBackend(n) for n in names]

    @hookimpl
    def flowyml_register_backends(register):
        for backend in backends:
            register(backend)

    @hookimpl
    def flowyml_register_stores(register):
        for n in names:
            register(f"{n}mem", lambda uri, settings: ("storage-for", uri, dict(settings)), extra="echo")

    return types.SimpleNamespace(
        flowyml_register_backends=flowyml_register_backends,
        flowyml_register_stores=flowyml_register_stores,
        backends={b.name: b for b in backends},
    )


@pytest.fixture
def plugin() -> types.SimpleNamespace:
    return make_plugin("echo", "other")


@pytest.fixture
def pm(plugin: types.SimpleNamespace) -> PluginManager:
    manager = PluginManager(load_entry_points=False)
    manager.register(plugin, name="echo")
    return manager


def spec() -> JobSpec:
    return JobSpec(
        run_id="r1",
        pipeline_name="p",
        pipeline=PipelineRef(module="m"),
        units=[UnitSpec(name="u", steps=["u"])],
        artifact_root="file:///tmp/a",
    )


def handle(backend: str = "echo", run_id: str = "r1") -> RunHandle:
    return RunHandle(backend=backend, run_id=run_id, job_id=f"{backend}-{run_id}")


# -- the two hooks ---------------------------------------------------------------------------------
def test_hook_register_backends(pm: PluginManager, plugin: types.SimpleNamespace):
    assert {"local", "echo", "other"} <= set(pm.backends)
    assert pm.backend("echo") is plugin.backends["echo"]  # the object itself: it carries the behaviour
    assert pm.records["echo"].backends == ["echo", "other"]  # one plugin, two backends


def test_hook_register_stores(pm: PluginManager, tmp_path: Path):
    assert {"file", "echomem", "othermem"} <= set(pm.stores)
    assert pm.storage("othermem://bucket", {"a": "b"}) == ("storage-for", "othermem://bucket", {"a": "b"})
    assert isinstance(pm.storage(tmp_path.as_uri()), FileStorage)
    assert isinstance(pm.storage(str(tmp_path)), FileStorage)  # a plain path is a file:// store
    with pytest.raises(UnknownBackendError, match=r"plugin stores artifacts at .s3://b.*pip install \./flowyml-aws "):
        pm.storage("s3://b/x")


# -- dispatch by name: each operation reaches the one backend it names -----------------------------
def test_backend_submit(pm: PluginManager, plugin: types.SimpleNamespace):
    assert pm.submit(spec(), "other", EchoConfig("yo")).job_id == "other-r1"
    assert plugin.backends["other"].calls == [("submit", "yo")]
    assert plugin.backends["echo"].calls == []  # never asked about another backend's run


def test_backend_status(pm: PluginManager):
    report = pm.status(handle(), EchoConfig())
    assert report.status is ExecutionStatus.COMPLETED and report.native_state == "DONE"


def test_backend_status_many(pm: PluginManager, plugin: types.SimpleNamespace):
    batched: list[list[str]] = []
    echo = plugin.backends["echo"]

    def status_many(handles, config):
        batched.append([h.run_id for h in handles])
        return {h.run_id: StatusReport(ExecutionStatus.RUNNING) for h in handles if h.run_id != "left-out"}

    echo.status_many = status_many
    reports = pm.status_many("echo", [handle(run_id=r) for r in ("a", "b", "left-out")], EchoConfig())
    assert batched == [["a", "b", "left-out"]]  # one call for the whole batch
    assert reports["a"].status is ExecutionStatus.RUNNING
    assert reports["left-out"].status is ExecutionStatus.COMPLETED  # asked again through status()
    other = pm.status_many("other", [handle("other", "x")], EchoConfig())
    assert other["x"].native_state == "DONE"  # the base class answers none: run by run


def test_backend_cancel(pm: PluginManager, plugin: types.SimpleNamespace):
    assert pm.cancel(handle("other"), EchoConfig(), graceful=False) is True
    assert plugin.backends["other"].calls == [("cancel", False)]


def test_backend_logs(pm: PluginManager):
    records = list(pm.logs(handle(), EchoConfig()))
    assert [r.message for r in records] == ["line 0", "line 1", "line 2"]
    assert [r.message for r in pm.logs(handle(), EchoConfig(), cursor=records[0].cursor)] == ["line 1", "line 2"]


def test_backend_logs_follow_reads_once_more_after_the_run_ended(pm: PluginManager, plugin: types.SimpleNamespace):
    echo = plugin.backends["echo"]
    echo.finished = False
    statuses = iter([False, False, True])

    def status(h, config):
        echo.finished = next(statuses)
        return StatusReport(ExecutionStatus.COMPLETED if echo.finished else ExecutionStatus.RUNNING)

    echo.status = status
    followed = list(pm.logs(handle(), EchoConfig(), follow=True, poll_interval=0))
    assert [r.message for r in followed] == ["line 0", "line 1", "line 2"]
    log_passes = [c for c in echo.calls if c[0] == "logs"]
    assert len(log_passes) == 3  # one pass per status read, the last one after the run ended
    assert log_passes[-1] == ("logs", "3")  # resumed from the last cursor: no duplicates


def test_backend_details(pm: PluginManager):
    assert pm.details(handle(), EchoConfig("hey")) == {"job_id": "echo-r1", "greeting": "hey"}


def test_a_backend_registered_in_code(plugin: types.SimpleNamespace):
    pm = PluginManager(load_entry_points=False)
    name = pm.register_backend(EchoBackend("notebook"))
    assert pm.submit(spec(), "notebook", EchoConfig()).job_id == "notebook-r1"
    pm.unregister(name)
    with pytest.raises(UnknownBackendError):
        pm.backend("notebook")


# -- errors --------------------------------------------------------------------------------------
def test_unknown_backend_lists_installed_ones_and_the_extra_to_install(pm: PluginManager):
    with pytest.raises(UnknownBackendError) as info:
        pm.backend("sagemaker")
    msg = str(info.value)
    assert "unknown backend 'sagemaker'" in msg and "echo, inprocess, local, other" in msg
    assert "pip install ./flowyml-aws (from the root of a clone of the flowyml repository)" in msg
    with pytest.raises(PluginError, match="third-party backend"):
        pm.backend("mystery")


def test_a_raw_sdk_error_becomes_a_backend_error_naming_plugin_and_operation(pm: PluginManager, plugin):
    def status(h, config):
        raise KeyError("'JobStatus'")  # what an SDK's unexpected answer looks like

    plugin.backends["echo"].status = status
    pm._records["echo"].distribution, pm._records["echo"].version = "flowyml-echo", "1.2.3"
    with pytest.raises(BackendError) as info:
        pm.status(handle(), EchoConfig())
    assert "echo status failed in flowyml-echo 1.2.3: KeyError" in str(info.value)
    assert isinstance(info.value.__cause__, KeyError)  # the cause is chained for --debug


def test_translate_error_gives_the_backend_the_first_word(pm: PluginManager, plugin):
    class Forbidden(Exception):
        status_code = 403

    echo = plugin.backends["echo"]

    def submit(spec, config):
        raise Forbidden("AccessDenied")

    echo.submit = submit
    echo.translate_error = lambda exc, op: AuthError(f"{op}: set ECHO_TOKEN") if isinstance(exc, Forbidden) else None
    with pytest.raises(AuthError, match="submit: set ECHO_TOKEN") as info:
        pm.submit(spec(), "echo", EchoConfig())
    assert isinstance(info.value.__cause__, Forbidden)


def test_a_plugin_that_fails_to_import_is_reported_and_the_rest_keep_working():
    pm = PluginManager(load_entry_points=False)
    with pytest.warns(PluginWarning, match="'broken' from flowyml-broken 9.9 failed to import"):
        pm._load("broken", "flowyml_no_such_module_xyz.plugin", "flowyml-broken", "9.9")
    assert pm.records["broken"].error.startswith("ModuleNotFoundError")
    assert "local" in pm.backends


@pytest.mark.parametrize("hook", ["flowyml_teleport", "flowyml_submit"])
def test_a_hook_this_core_does_not_know_is_warned_about_and_ignored(hook: str):
    plugin = make_plugin("future")

    def impl(run):
        return "whoosh"

    setattr(plugin, hook, hookimpl(impl))
    pm = PluginManager(load_entry_points=False)
    with pytest.warns(PluginWarning, match=hook):
        pm.register(plugin, name="future")
    assert "future" in pm.backends  # the rest of the plugin works


def test_a_backend_needing_a_newer_contract_is_skipped():
    class Tomorrow(EchoBackend):
        contract_version = 99

    pm = PluginManager(load_entry_points=False)
    with pytest.warns(PluginWarning, match="needs plugin contract v99"):
        pm.register_backend(Tomorrow("tomorrow"))
    assert "tomorrow" not in pm.backends


def test_a_backend_name_registered_twice_keeps_the_first():
    pm = PluginManager(load_entry_points=False)
    first = EchoBackend("twin")
    pm.register_backend(first, name="a")
    with pytest.warns(PluginWarning, match="'twin' .* is already registered"):
        pm.register_backend(EchoBackend("twin"), name="b")
    assert pm.backend("twin") is first


def test_registering_something_that_is_not_a_backend_is_explained():
    @hookimpl
    def flowyml_register_backends(register):
        register({"name": "dict-backend"})

    pm = PluginManager(load_entry_points=False)
    with pytest.warns(PluginWarning, match="takes a flowyml.plugins.Backend instance"):
        pm.register(types.SimpleNamespace(flowyml_register_backends=flowyml_register_backends), name="v1-style")


def test_a_missing_sdk_names_the_extra():
    class FakeAws(EchoBackend):
        def submit(self, spec, config):
            raise ModuleNotFoundError("No module named 'boto3'", name="boto3")

    pm = PluginManager(load_entry_points=False)
    pm.register_backend(FakeAws("aws_batch"))
    with pytest.raises(PluginError, match=r"needs the package 'boto3'.*pip install \./flowyml-aws \(from the root"):
        pm.submit(spec(), "aws_batch", EchoConfig())


def test_disable_and_load_plugins_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FLOWYML_DISABLE_PLUGINS", "local")
    assert "local" not in PluginManager(load_entry_points=False).backends
    monkeypatch.delenv("FLOWYML_DISABLE_PLUGINS")
    monkeypatch.setenv("FLOWYML_LOAD_PLUGINS", "nothing-else")
    pm = PluginManager()
    assert set(pm.backends) == {"inprocess", "local"}  # built-ins always load; entry points only if listed


def test_a_backend_without_an_operation_says_so():
    class SubmitOnly(Backend):
        name = "submit-only"

    pm = PluginManager(load_entry_points=False)
    pm.register_backend(SubmitOnly())
    with pytest.raises(BackendError, match="'submit-only' does not implement status"):
        pm.status(handle("submit-only"), EchoConfig())


def test_the_built_in_plugin_registers_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pm = PluginManager(load_entry_points=False)
    assert pm.records["local"].distribution == "flowyml-core"
    assert pm.records["local"].hooks == [
        "flowyml_register_backends",
        "flowyml_register_secrets",
        "flowyml_register_stores",
    ]
    assert pm.records["local"].secrets == ["env"]


# -- the shared retry helper ------------------------------------------------------------------------
def _never(exc: BaseException) -> bool:
    return False


@pytest.mark.parametrize(
    "dropped",
    [http.client.IncompleteRead(b"x", 10), ConnectionResetError("reset by peer"), BrokenPipeError()],
    ids=["IncompleteRead", "ConnectionResetError", "BrokenPipeError"],
)
def test_a_connection_dropped_mid_body_is_retried_whatever_the_predicate(dropped, monkeypatch):
    monkeypatch.setenv("FLOWYML_BACKEND_RETRY_DELAY", "0")
    retry_mod.budget.reset()
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("wrapped") from dropped
        return "ok"

    assert retry_mod.call_with_retry(flaky, transient=_never, what="read") == "ok"
    assert len(calls) == 2


def test_the_retry_budget_caps_retries_across_calls(monkeypatch):
    monkeypatch.setenv("FLOWYML_BACKEND_RETRY_DELAY", "0")
    monkeypatch.setattr(retry_mod, "budget", retry_mod.RetryBudget(capacity=10, cost=5))
    attempts = []

    def down():
        attempts.append(1)
        raise ConnectionResetError("service down")

    for _ in range(3):
        with pytest.raises(TransientBackendError):
            retry_mod.call_with_retry(down, transient=_never, what="outage")
    assert len(attempts) == 3 + 2  # two retries in all, then each call makes one attempt


def test_injected_faults_fail_calls_of_that_operation_only(monkeypatch):
    monkeypatch.setenv("FLOWYML_BACKEND_RETRY_DELAY", "0")
    retry_mod.budget.reset()
    made = []
    token = retry_mod.current_operation.set("status")
    try:
        with retry_mod.inject_faults("status", 2), retry_mod.inject_faults("logs", 5):
            assert retry_mod.call_with_retry(lambda: made.append(1) or "ok", transient=_never, what="x") == "ok"
            assert retry_mod.faults_left("status") == 0 and retry_mod.faults_left("logs") == 5
    finally:
        retry_mod.current_operation.reset(token)
    assert made == [1]  # the injected failures happened in front of the call


def test_following_logs_waits_out_a_throttled_log_service():
    from flowyml.plugins.polling import follow

    state = {"available": 2}
    cursors: list[str | None] = []

    def read_pass(cursor):
        cursors.append(cursor)
        for i in range(int(cursor or 0), state["available"]):
            yield LogRecord(timestamp=1.0, message=f"l{i}", cursor=str(i + 1))
            if len(cursors) == 2 and i == 2:
                raise TransientBackendError("429 from the log API, retries spent")
        state["available"] = 4

    ended = iter([False, False, False, True])
    records = list(follow(read_pass, lambda r: r.cursor, lambda: next(ended), poll_interval=0, sleep=lambda _s: None))
    assert [r.message for r in records] == ["l0", "l1", "l2", "l3"]  # each once: nothing lost, no duplicate
    assert cursors == [None, "2", "3", "4"]  # the pass after the failure resumed from the last record


def test_threads_racing_for_the_first_entry_point_backend_all_find_it():
    import threading

    pm = PluginManager()  # entry points not loaded yet
    barrier, found, errors = threading.Barrier(8), [], []

    def look() -> None:
        barrier.wait()
        try:
            found.append(pm.backend("httpjobs").name)
        except Exception as exc:  # the race answered "unknown backend ... installed backends: local"
            errors.append(exc)

    threads = [threading.Thread(target=look) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and found == ["httpjobs"] * 8


def test_a_multi_line_sdk_error_reads_as_one_line(monkeypatch):
    monkeypatch.setenv("FLOWYML_BACKEND_RETRY_DELAY", "0")
    retry_mod.budget.reset()

    def throttled():
        raise RuntimeError("(TooManyRequests) slow down\nCode: TooManyRequests\nMessage: slow down")

    with pytest.raises(TransientBackendError) as info:
        retry_mod.call_with_retry(throttled, transient=lambda exc: True, what="azure list jobs", attempts=2)
    assert "\n" not in str(info.value) and "Code: TooManyRequests Message: slow down" in str(info.value)
