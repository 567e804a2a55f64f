"""Finding plugins (entry points or code), dispatching operations to them, and explaining failures."""

from __future__ import annotations

import importlib
import os
import threading
import warnings
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any

import attrs
import pluggy

from flowyml.core.errors import PluginError
from flowyml.plugins import hookspecs
from flowyml.plugins.types import CONTRACT_VERSION, BackendInfo, JobSpec, LogRecord, RunHandle, StatusReport, StoreInfo

ENTRY_POINT_GROUP = "flowyml"
BUILTIN_PLUGINS = {"local": "flowyml.backends.local.plugin"}

#: Backends and URI schemes we know of, and the extra that installs them.
KNOWN_BACKENDS = {"vertex_ai": "gcp", "aws_batch": "aws", "sagemaker": "aws", "azureml": "azure"}
KNOWN_SCHEMES = {"gs": "gcp", "s3": "aws", "azureml": "azure", "abfs": "azure", "abfss": "azure", "https": "azure"}
#: Top-level SDK modules and the extra that provides them (for "missing SDK" errors).
SDK_EXTRAS = {
    "boto3": "aws",
    "botocore": "aws",
    "google": "gcp",
    "kfp": "gcp",
    "azure": "azure",
}


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
    error: str | None = None
    warnings: list[str] = attrs.field(factory=list)


def _env_list(name: str) -> set[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return {v.strip() for v in value.split(",") if v.strip()}


class PluginManager:
    """flowyml's pluggy manager: loads plugins once, then dispatches by backend name or URI scheme."""

    def __init__(self, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager("flowyml")
        self.pm.add_hookspecs(hookspecs)
        self._records: dict[str, PluginRecord] = {}
        self._backends: dict[str, BackendInfo] = {}
        self._stores: dict[str, StoreInfo] = {}
        self._lock = threading.RLock()
        self._entry_points_pending = load_entry_points
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
    def backends(self) -> dict[str, BackendInfo]:
        """Every registered backend, by name."""
        self.load_all()
        return self._backends

    @property
    def stores(self) -> dict[str, StoreInfo]:
        """Every registered artifact URI scheme."""
        self.load_all()
        return self._stores

    def load_all(self) -> None:
        """Load the entry-point plugins now; otherwise they load on the first backend or scheme
        the built-ins do not provide (so ``flowyml status`` of a local run imports no plugin)."""
        if self._entry_points_pending:
            with self._lock:
                if self._entry_points_pending:
                    self._entry_points_pending = False
                    self._load_entry_points()

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
                f"flowyml plugin {name!r} from {dist or 'unknown distribution'} {version or ''} failed to "
                f"import and was skipped: {record.error}",
                PluginWarning,
                stacklevel=3,
            )
            return
        self.register(module, name=name, _record=record)

    def register(
        self, plugin: ModuleType | object, name: str | None = None, *, _record: PluginRecord | None = None
    ) -> str:
        """Register a plugin object or module in code (tests, notebooks, embedded use)."""
        with self._lock:
            name = name or getattr(plugin, "__name__", None) or repr(plugin)
            record = _record or self._records.setdefault(name, PluginRecord(name=name, module=str(plugin)))
            unknown = [
                attr
                for attr in dir(plugin)
                if attr.startswith("flowyml_")
                and attr not in hookspecs.HOOK_VERSIONS
                and hasattr(getattr(plugin, attr), "flowyml_impl")
            ]
            for attr in unknown:
                msg = (
                    f"plugin {name!r} implements hook {attr!r}, which this flowyml-core "
                    f"(contract version {CONTRACT_VERSION}) does not know; it is ignored"
                )
                record.warnings.append(msg)
                warnings.warn(msg, PluginWarning, stacklevel=2)
            try:
                self.pm.register(plugin, name=name)
            except (pluggy.PluginValidationError, ValueError) as exc:
                record.error = f"{type(exc).__name__}: {exc}"
                warnings.warn(f"flowyml plugin {name!r} was skipped: {record.error}", PluginWarning, stacklevel=2)
                return name
            record.hooks = sorted(
                impl.hook_name if hasattr(impl, "hook_name") else h.name
                for h in self.pm.get_hookcallers(plugin) or []
                for impl in h.get_hookimpls()
                if impl.plugin is plugin
            )
            self._discover(plugin, record)
            return name

    def _discover(self, plugin: object, record: PluginRecord) -> None:
        def register_backend(info: BackendInfo) -> None:
            if info.contract_version > CONTRACT_VERSION:
                msg = (
                    f"backend {info.name!r} from plugin {record.name!r} needs plugin contract "
                    f"v{info.contract_version}; this flowyml-core has v{CONTRACT_VERSION}: upgrade flowyml-core"
                )
                record.warnings.append(msg)
                warnings.warn(msg, PluginWarning, stacklevel=2)
                return
            self._backends[info.name] = info
            record.backends.append(info.name)

        def register_store(info: StoreInfo) -> None:
            self._stores[info.scheme] = info
            record.stores.append(info.scheme)

        for hook_name, callback in (
            ("flowyml_register_backends", register_backend),
            ("flowyml_register_stores", register_store),
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
                for s in record.stores:
                    self._stores.pop(s, None)

    # -- lookup ------------------------------------------------------------------------------
    def backend(self, name: str) -> BackendInfo:
        """The registered backend, or a :class:`PluginError` listing what is installed and how to add it."""
        info = self._backends.get(name)
        if info is None:
            self.load_all()
            info = self._backends.get(name)
        if info is not None:
            return info
        installed = ", ".join(sorted(self.backends)) or "none"
        msg = f"unknown backend {name!r}; installed backends: {installed}."
        extra = KNOWN_BACKENDS.get(name)
        broken = [r for r in self.records.values() if r.error and extra and extra in (r.distribution or r.name)]
        if broken:
            name = broken[0].distribution or broken[0].name
            msg += f" The plugin {name} is installed but failed to load: {broken[0].error}"
        elif extra:
            msg += f' Install it with: pip install "flowyml[{extra}]"'
        else:
            msg += " A third-party backend is added by installing its plugin distribution."
        raise PluginError(msg)

    def _call(self, hook: str, target: str, **kwargs: Any) -> Any:
        backend = target
        self.backend(backend)
        try:
            result = getattr(self.pm.hook, hook)(**kwargs)
        except ModuleNotFoundError as exc:
            raise _missing_sdk(exc, backend) from exc
        if result is None:
            raise PluginError(f"backend {backend!r} does not implement {hook.removeprefix('flowyml_')}")
        return result

    def submit(self, spec: JobSpec, backend: str, config: Any) -> RunHandle:
        return self._call("flowyml_submit", backend, backend=backend, spec=spec, config=config)

    def status(self, handle: RunHandle, config: Any) -> StatusReport:
        return self._call("flowyml_status", handle.backend, handle=handle, config=config)

    def status_many(self, backend: str, handles: list[RunHandle], config: Any) -> Mapping[str, StatusReport]:
        """Reports for many runs of one backend: one batched call where the backend offers one."""
        self.backend(backend)
        try:
            answer = self.pm.hook.flowyml_status_many(backend=backend, handles=handles, config=config)
        except ModuleNotFoundError as exc:
            raise _missing_sdk(exc, backend) from exc
        reports = dict(answer or {})
        for handle in handles:
            if handle.run_id not in reports:
                reports[handle.run_id] = self.status(handle, config)
        return reports

    def cancel(self, handle: RunHandle, config: Any, graceful: bool = True) -> bool:
        return self._call("flowyml_cancel", handle.backend, handle=handle, config=config, graceful=graceful)

    def logs(
        self,
        handle: RunHandle,
        config: Any,
        cursor: str | None = None,
        follow: bool = False,
        poll_interval: float | None = None,
    ) -> Iterator[LogRecord]:
        return self._call(
            "flowyml_logs",
            handle.backend,
            handle=handle,
            config=config,
            cursor=cursor,
            follow=follow,
            poll_interval=poll_interval,
        )

    def details(self, handle: RunHandle, config: Any) -> Mapping[str, Any]:
        return self._call("flowyml_details", handle.backend, handle=handle, config=config)

    def storage(self, uri: str, settings: Mapping[str, Any] | None = None) -> Any:
        """The storage for ``uri``'s scheme (``file://``, ``s3://``, ``gs://``, ...)."""
        scheme = uri.split("://", 1)[0] if "://" in uri else "file"
        try:
            result = self.pm.hook.flowyml_storage(uri=uri, settings=dict(settings or {}))
            if result is None and self._entry_points_pending:
                self.load_all()
                result = self.pm.hook.flowyml_storage(uri=uri, settings=dict(settings or {}))
        except ModuleNotFoundError as exc:
            raise _missing_sdk(exc, f"{scheme}://") from exc
        if result is None:
            known = ", ".join(f"{s}://" for s in sorted(self.stores)) or "none"
            msg = f"no installed plugin stores artifacts at {uri!r}; installed schemes: {known}."
            extra = KNOWN_SCHEMES.get(scheme)
            if extra:
                msg += f' Install it with: pip install "flowyml[{extra}]"'
            raise PluginError(msg)
        return result


def _missing_sdk(exc: ModuleNotFoundError, what: str) -> PluginError:
    top = (exc.name or "").split(".")[0]
    extra = SDK_EXTRAS.get(top)
    hint = f'pip install "flowyml[{extra}]"' if extra else f"pip install {top}"
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
