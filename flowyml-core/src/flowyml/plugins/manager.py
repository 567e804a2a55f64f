"""Finding plugins (entry points or code), keeping the backends and stores they register,
dispatching operations to them, and explaining failures."""

from __future__ import annotations

__all__ = [
    "PluginManager",
    "PluginRecord",
    "PluginWarning",
    "get_plugin_manager",
    "reset_plugin_manager",
    "ENTRY_POINT_GROUP",
    "KNOWN_BACKENDS",
]

import contextlib
import importlib
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import pluggy

from flowyml.core.errors import ArtifactError, BackendError, FlowymlError, PluginError, UnknownBackendError
from flowyml.plugins import hookspecs
from flowyml.plugins.backend import Backend, StorageFactory, StoreRegistration
from flowyml.plugins.install import install_hint
from flowyml.plugins.retry import current_operation, one_line
from flowyml.plugins.schedules import ScheduleInfo, ScheduleSpec
from flowyml.plugins.types import CONTRACT_VERSION, JobSpec, LogRecord, RunHandle, StatusReport
from flowyml.secrets import SecretResolver

if TYPE_CHECKING:
    from flowyml.artifacts.storage import Storage

T = TypeVar("T")

ENTRY_POINT_GROUP = "flowyml"
BUILTIN_PLUGINS = {"local": "flowyml.backends.local.plugin"}

#: Backends and URI schemes we know of, and the extra that installs them (for "not installed" errors).
KNOWN_BACKENDS = {
    "vertex_ai": "gcp",
    "aws_batch": "aws",
    "sagemaker": "aws",
    "azureml": "azure",
    "azure_ml": "azure",
    "ray": "ray",
}
#: Other names of backends (FlowyML 2.x calls Azure ML ``azure_ml``); resolved wherever a name is looked up.
BACKEND_ALIASES = {"azure_ml": "azureml"}
KNOWN_SCHEMES = {"gs": "gcp", "s3": "aws", "azureml": "azure", "abfs": "azure", "abfss": "azure", "https": "azure"}
#: Top-level SDK modules and the extra that provides them (for "missing SDK" errors).
SDK_EXTRAS = {"boto3": "aws", "botocore": "aws", "google": "gcp", "kfp": "gcp", "azure": "azure", "ray": "ray"}


class PluginWarning(UserWarning):
    """A plugin was skipped or partly ignored (load error, unknown hook, newer contract)."""


@attrs.define
class PluginRecord:
    """One loaded (or failed) plugin, as ``flowyml plugins`` shows it."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    hooks: list[str] = attrs.field(factory=list)
    backends: list[str] = attrs.field(factory=list)
    stores: list[str] = attrs.field(factory=list)
    secrets: list[str] = attrs.field(factory=list)
    error: str | None = None
    warnings: list[str] = attrs.field(factory=list)

    def label(self) -> str:
        """``flowyml-aws 0.1.0`` (or the plugin name when no distribution is known)."""
        if self.distribution:
            return f"{self.distribution} {self.version or ''}".strip()
        return f"plugin {self.name!r}"


def _env_list(name: str) -> set[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return {v.strip() for v in value.split(",") if v.strip()}


class PluginManager:
    """flowyml's pluggy manager: loads plugins once, keeps the backends and stores they register,
    and calls them — every operation through :meth:`call`, which names the plugin in any error."""

    def __init__(self, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager("flowyml")
        self.pm.add_hookspecs(hookspecs)
        self._records: dict[str, PluginRecord] = {}
        self._backends: dict[str, Backend] = {}
        self._backend_owner: dict[str, PluginRecord] = {}
        self._stores: dict[str, StoreRegistration] = {}
        self._secrets: dict[str, SecretResolver] = {}
        self._lock = threading.RLock()
        self._entry_points_pending = load_entry_points
        self._loading = False
        for name, module in BUILTIN_PLUGINS.items():
            if self._wanted(name):
                from flowyml import __version__

                self._load(name, module, "flowyml-core", __version__)

    # -- what is installed (reading these loads every plugin) -----------------------------------
    @property
    def records(self) -> dict[str, PluginRecord]:
        """Every plugin, loaded or failed."""
        self.load_all()
        return self._records

    @property
    def backends(self) -> dict[str, Backend]:
        """Every registered backend, by name."""
        self.load_all()
        return self._backends

    @property
    def stores(self) -> dict[str, StoreRegistration]:
        """Every registered artifact URI scheme."""
        self.load_all()
        return self._stores

    @property
    def secret_resolvers(self) -> dict[str, SecretResolver]:
        """Every registered secret-reference scheme (``env``, ``aws-sm``, ...)."""
        self.load_all()
        return self._secrets

    def load_all(self) -> None:
        """Load the entry-point plugins now; otherwise they load on the first backend or scheme
        the built-ins do not provide (so ``flowyml status`` of a local run imports no plugin)."""
        if self._entry_points_pending:
            with self._lock:  # RLock: a plugin that looks backends up while it loads gets what is there
                if self._entry_points_pending and not self._loading:
                    self._loading = True
                    try:
                        self._load_entry_points()
                    finally:
                        self._loading = False
                        self._entry_points_pending = False

    # -- loading -----------------------------------------------------------------------------
    @staticmethod
    def _wanted(name: str) -> bool:
        """``FLOWYML_DISABLE_PLUGINS`` wins; ``FLOWYML_LOAD_PLUGINS`` limits entry points (built-ins stay)."""
        if name in (_env_list("FLOWYML_DISABLE_PLUGINS") or set()):
            return False
        only = _env_list("FLOWYML_LOAD_PLUGINS")
        return only is None or name in only or name in BUILTIN_PLUGINS

    def _load_entry_points(self) -> None:
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in self._records or (ep.name in BUILTIN_PLUGINS and ep.value == BUILTIN_PLUGINS[ep.name]):
                continue
            if not self._wanted(ep.name):
                continue
            dist = getattr(ep, "dist", None)
            self._load(ep.name, ep.value, dist.name if dist else None, dist.version if dist else None)

    def _load(self, name: str, module_path: str, dist: str | None, version: str | None) -> None:
        record = PluginRecord(name=name, module=module_path, distribution=dist, version=version)
        self._records[name] = record
        try:
            module = importlib.import_module(module_path.split(":")[0])
        except Exception as exc:
            record.error = f"{type(exc).__name__}: {exc}"
            warnings.warn(
                f"flowyml plugin {name!r} from {record.label()} failed to import and was skipped: {record.error}",
                PluginWarning,
                stacklevel=3,
            )
            return
        self.register(module, name=name, _record=record)

    def register(
        self, plugin: ModuleType | object, name: str | None = None, *, _record: PluginRecord | None = None
    ) -> str:
        """Register a plugin module or object in code (tests, notebooks, embedded use)."""
        with self._lock:
            name = name or getattr(plugin, "__name__", None) or repr(plugin)
            record = _record or self._records.setdefault(name, PluginRecord(name=name, module=str(plugin)))
            unknown = [
                attr
                for attr in dir(plugin)
                if attr.startswith("flowyml_")
                and attr not in hookspecs.HOOK_VERSIONS
                and hasattr(getattr(plugin, attr, None), "flowyml_impl")
            ]
            for attr in unknown:
                self._warn(
                    record,
                    f"plugin {name!r} implements hook {attr!r}, which this flowyml-core (contract "
                    f"version {CONTRACT_VERSION}) does not know; it is ignored",
                )
            try:
                self.pm.register(plugin, name=name)
            except (pluggy.PluginValidationError, ValueError) as exc:
                record.error = f"{type(exc).__name__}: {exc}"
                warnings.warn(f"flowyml plugin {name!r} was skipped: {record.error}", PluginWarning, stacklevel=2)
                return name
            callers = self.pm.get_hookcallers(plugin) or []
            record.hooks = sorted(h.name for h in callers if any(i.plugin is plugin for i in h.get_hookimpls()))
            self._discover(plugin, record)
            return name

    def register_backend(self, backend: Backend, name: str | None = None) -> str:
        """Register one backend object in code (a notebook, a test); returns the plugin name for
        :meth:`unregister`."""
        from flowyml.plugins import hookimpl

        @hookimpl
        def flowyml_register_backends(register: Any) -> None:
            register(backend)

        plugin = ModuleType(name or f"backend:{backend.name}")
        plugin.flowyml_register_backends = flowyml_register_backends  # type: ignore[attr-defined]
        return self.register(plugin, name=plugin.__name__)

    def _warn(self, record: PluginRecord, msg: str) -> None:
        record.warnings.append(msg)
        warnings.warn(msg, PluginWarning, stacklevel=4)

    def _discover(self, plugin: object, record: PluginRecord) -> None:
        def register_backend(backend: Backend) -> None:
            if not isinstance(backend, Backend):
                raise TypeError(
                    f"register() takes a flowyml.plugins.Backend instance, got {type(backend).__name__}: "
                    "subclass Backend and register an object of it"
                )
            if not backend.name:
                raise TypeError(f"{type(backend).__name__} has no `name`")
            if backend.contract_version > CONTRACT_VERSION:
                self._warn(
                    record,
                    f"backend {backend.name!r} from {record.label()} needs plugin contract "
                    f"v{backend.contract_version}; this flowyml-core has v{CONTRACT_VERSION}: upgrade flowyml-core",
                )
                return
            if backend.name in self._backends:
                owner = self._backend_owner[backend.name]
                self._warn(
                    record,
                    f"backend {backend.name!r} from {record.label()} is already registered by {owner.label()}; "
                    "the first one is kept",
                )
                return
            self._backends[backend.name] = backend
            self._backend_owner[backend.name] = record
            record.backends.append(backend.name)

        def register_store(
            scheme: str, factory: StorageFactory, description: str = "", extra: str | None = None
        ) -> None:
            scheme = scheme.removesuffix("://")
            if scheme in self._stores:
                self._warn(record, f"URI scheme {scheme}:// from {record.label()} is already registered; ignored")
                return
            self._stores[scheme] = StoreRegistration(scheme, factory, description, extra)
            record.stores.append(scheme)

        def register_secret(scheme: str, resolve: Any, description: str = "", extra: str | None = None) -> None:
            scheme = scheme.removesuffix("://")
            if not callable(resolve):
                raise TypeError(f"register({scheme!r}, ...) takes a callable resolve(path) -> str")
            if scheme in self._secrets:
                self._warn(record, f"secret scheme {scheme}:// from {record.label()} is already registered; ignored")
                return
            self._secrets[scheme] = SecretResolver(scheme, resolve, description, extra)
            record.secrets.append(scheme)

        for hook_name, callback in (
            ("flowyml_register_backends", register_backend),
            ("flowyml_register_stores", register_store),
            ("flowyml_register_secrets", register_secret),
        ):
            impl = getattr(plugin, hook_name, None)
            if impl is None or not hasattr(impl, "flowyml_impl"):
                continue
            try:
                impl(callback)
            except Exception as exc:
                record.error = f"{hook_name} raised {type(exc).__name__}: {exc}"
                warnings.warn(f"flowyml plugin {record.name!r}: {record.error}", PluginWarning, stacklevel=3)

    def unregister(self, name: str) -> None:
        with self._lock:
            plugin = self.pm.get_plugin(name)
            if plugin is not None:
                self.pm.unregister(plugin)
            record = self._records.pop(name, None)
            if record:
                for b in record.backends:
                    self._backends.pop(b, None)
                    self._backend_owner.pop(b, None)
                for s in record.stores:
                    self._stores.pop(s, None)
                for s in record.secrets:
                    self._secrets.pop(s, None)

    # -- lookup ------------------------------------------------------------------------------
    def backend(self, name: str) -> Backend:
        """The registered backend, or an :class:`UnknownBackendError` listing what is installed and how to add it."""
        name = BACKEND_ALIASES.get(name, name)
        backend = self._backends.get(name)
        if backend is None:
            self.load_all()
            backend = self._backends.get(name)
        if backend is not None:
            return backend
        installed = ", ".join(sorted(self._backends)) or "none"
        msg = f"unknown backend {name!r}; installed backends: {installed}."
        extra = KNOWN_BACKENDS.get(name)
        broken = [r for r in self._records.values() if r.error and extra and extra in (r.distribution or r.name)]
        if broken:
            msg += f" The plugin {broken[0].label()} is installed but failed to load: {broken[0].error}"
        elif extra:
            msg += f" Install it with: {install_hint(extra)}"
        else:
            msg += " A third-party backend is added by installing its plugin distribution."
        raise UnknownBackendError(msg)

    def owner(self, backend: str) -> PluginRecord:
        """The plugin that registered ``backend``."""
        self.backend(backend)
        return self._backend_owner[backend]

    # -- dispatch ----------------------------------------------------------------------------
    def call(self, backend_name: str, operation: str, fn: Callable[[Backend], T]) -> T:
        """Run ``fn(backend)`` as ``operation``; any error that is not a FlowymlError is explained.

        The plugin's own ``translate_error`` gets the first word (AuthError, RefusedError, ...);
        a missing SDK module names the extra to install; anything else becomes a
        :class:`BackendError` naming the distribution, version, backend and operation, with
        the original exception chained as its cause.
        """
        backend = self.backend(backend_name)
        token = current_operation.set(operation)
        try:
            return fn(backend)
        except (FlowymlError, StopIteration):
            raise
        except Exception as exc:
            raise self.explain(backend, operation, exc) from exc
        finally:
            current_operation.reset(token)

    def explain(self, backend: Backend, operation: str, exc: BaseException) -> FlowymlError:
        """The typed flowyml error for an exception a backend raised."""
        translated = None
        with contextlib.suppress(Exception):  # a broken translator must not hide the original error
            translated = backend.translate_error(exc, operation)
        if translated is not None:
            return translated
        if isinstance(exc, ModuleNotFoundError):
            return _missing_sdk(exc, f"backend {backend.name!r}")
        owner = self._backend_owner.get(backend.name)
        label = owner.label() if owner else "an unknown plugin"
        # one line: SDK messages span lines (Azure's "(Code) msg\nCode: ...", AWS policy texts)
        text = one_line(exc, 1000) if str(exc).strip() else ""
        error = BackendError(f"{backend.name} {operation} failed in {label}: {type(exc).__name__}: {text}".rstrip(": "))
        error.backend = backend.name  # type: ignore[attr-defined]
        error.operation = operation  # type: ignore[attr-defined]
        error.plugin = label  # type: ignore[attr-defined]
        return error

    def submit(self, spec: JobSpec, backend: str, config: Any) -> RunHandle:
        return self.call(backend, "submit", lambda b: b.submit(spec, config))

    def status(self, handle: RunHandle, config: Any) -> StatusReport:
        return self.call(handle.backend, "status", lambda b: b.status(handle, config))

    def status_many(self, backend: str, handles: list[RunHandle], config: Any) -> dict[str, StatusReport]:
        """Reports for many runs of one backend: one batched call where the backend offers one."""
        reports = dict(self.call(backend, "status", lambda b: b.status_many(handles, config)) or {})
        for handle in handles:
            if handle.run_id not in reports:
                reports[handle.run_id] = self.status(handle, config)
        return reports

    def cancel(self, handle: RunHandle, config: Any, graceful: bool = True) -> bool:
        return bool(self.call(handle.backend, "cancel", lambda b: b.cancel(handle, config, graceful)))

    def logs(
        self,
        handle: RunHandle,
        config: Any,
        cursor: str | None = None,
        follow: bool = False,
        poll_interval: float | None = None,
    ) -> Iterator[LogRecord]:
        """The run's records after ``cursor``; with ``follow``, pass after pass until the run ended."""
        backend = self.backend(handle.backend)

        def one_pass(position: str | None) -> Iterator[LogRecord]:
            records = self.call(handle.backend, "logs", lambda b: iter(b.logs(handle, config, position)))
            while True:
                try:
                    record = self.call(handle.backend, "logs", lambda _b: next(records))
                except StopIteration:
                    return
                yield record

        if not follow:
            return one_pass(cursor)
        from flowyml.plugins.polling import follow as follow_passes

        return follow_passes(
            one_pass,
            lambda r: r.cursor,
            lambda: self.status(handle, config).status.is_finished,
            cursor=cursor,
            poll_interval=backend.log_poll_interval(config) if poll_interval is None else poll_interval,
            settle=backend.log_settle_seconds(config),
        )

    def details(self, handle: RunHandle, config: Any) -> dict[str, Any]:
        return dict(self.call(handle.backend, "details", lambda b: b.details(handle, config)))

    # -- native schedules --------------------------------------------------------------------
    def schedule_create(self, backend: str, schedule: ScheduleSpec, config: Any) -> ScheduleInfo:
        return self.call(backend, "schedule_create", lambda b: b.schedule_create(schedule, config))

    def schedule_list(self, backend: str, config: Any) -> list[ScheduleInfo]:
        return list(self.call(backend, "schedule_list", lambda b: b.schedule_list(config)))

    def schedule_pause(self, backend: str, name: str, config: Any) -> ScheduleInfo:
        return self.call(backend, "schedule_pause", lambda b: b.schedule_pause(name, config))

    def schedule_resume(self, backend: str, name: str, config: Any) -> ScheduleInfo:
        return self.call(backend, "schedule_resume", lambda b: b.schedule_resume(name, config))

    def schedule_delete(self, backend: str, name: str, config: Any) -> bool:
        return bool(self.call(backend, "schedule_delete", lambda b: b.schedule_delete(name, config)))

    def schedule_runs(self, backend: str, name: str, config: Any) -> list[RunHandle]:
        return list(self.call(backend, "schedule_runs", lambda b: b.schedule_runs(name, config)))

    def storage(self, uri: str, settings: Mapping[str, Any] | None = None) -> Storage:
        """The storage for ``uri``'s scheme (``file://``, ``s3://``, ``gs://``, ...)."""
        scheme = uri.split("://", 1)[0] if "://" in uri else "file"
        registration = self._stores.get(scheme)
        if registration is None:
            self.load_all()
            registration = self._stores.get(scheme)
        if registration is None:
            known = ", ".join(f"{s}://" for s in sorted(self._stores)) or "none"
            msg = f"no installed plugin stores artifacts at {uri!r}; installed schemes: {known}."
            extra = KNOWN_SCHEMES.get(scheme)
            if extra:
                msg += f" Install it with: {install_hint(extra)}"
            raise UnknownBackendError(msg)
        try:
            storage: Storage = registration.factory(uri, dict(settings or {}))
        except FlowymlError:
            raise
        except ModuleNotFoundError as exc:
            raise _missing_sdk(exc, f"{scheme}://") from exc
        except Exception as exc:
            raise ArtifactError(f"cannot open the {scheme}:// store at {uri!r}: {type(exc).__name__}: {exc}") from exc
        return storage


def _missing_sdk(exc: ModuleNotFoundError, what: str) -> PluginError:
    top = (exc.name or "").split(".")[0]
    extra = SDK_EXTRAS.get(top)
    hint = install_hint(extra) if extra else f"pip install {top}"
    return PluginError(f"{what} needs the package {exc.name!r}, which is not installed: {hint}")


_MANAGER: PluginManager | None = None
_MANAGER_LOCK = threading.Lock()


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager (plugins load on first call)."""
    global _MANAGER
    if _MANAGER is None:
        with _MANAGER_LOCK:
            if _MANAGER is None:
                _MANAGER = PluginManager()
    return _MANAGER


def reset_plugin_manager() -> None:
    """Forget loaded plugins (tests; after changing ``FLOWYML_LOAD_PLUGINS``)."""
    global _MANAGER
    _MANAGER = None
