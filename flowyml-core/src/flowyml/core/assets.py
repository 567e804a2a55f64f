"""Typed assets — ``Dataset``, ``Model``, ``Metrics`` — that carry their data, metadata and lineage.

>>> data = Dataset.create(data={"x": [1, 2, 3], "y": [0, 1, 0]}, name="train", source="s3://bucket/train.csv")
>>> model = Model.create(data=fitted, name="clf", trained_on=data, framework="sklearn")
>>> model.get_training_datasets() == [data]

Assets are ordinary Python objects: steps return and receive them, the cache and the artifact
store pickle them with their metadata. Across a pickle (cache, artifact store, another process)
an asset's parents travel as data-less copies — same class, id, name, version, tags and
properties, ``data=None`` — so saving a model never saves the datasets it was trained on; its
children are not carried.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import attrs

A = TypeVar("A", bound="Asset")


@attrs.define
class AssetMetadata:
    """Who and what an asset is: id, name, version, type, creation time, parents, tags, properties."""

    asset_id: str
    name: str
    version: str
    asset_type: str
    created_at: datetime = attrs.field(factory=datetime.now)
    created_by: str = "flowyml"
    parent_ids: list[str] = attrs.field(factory=list)
    tags: dict[str, str] = attrs.field(factory=dict)
    properties: dict[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


class Asset:
    """The base of every asset: ``name``, ``version``, ``data``, ``metadata`` and lineage (``parents``)."""

    def __init__(
        self,
        name: str,
        version: str | None = None,
        data: Any = None,
        parent: Asset | None = None,
        tags: Mapping[str, str] | None = None,
        properties: Mapping[str, Any] | None = None,
        upload: bool = False,
        parents: Iterable[Asset] = (),
    ) -> None:
        self.name = name
        self.version = version or "v1.0.0"
        self.data = data
        self.asset_id = str(uuid.uuid4())
        self.upload = upload
        self.parents: list[Asset] = []
        self.children: list[Asset] = []
        self.metadata = AssetMetadata(
            asset_id=self.asset_id,
            name=name,
            version=self.version,
            asset_type=type(self).__name__,
            tags=dict(tags or {}),
            properties=dict(properties or {}),
        )
        for p in [parent, *parents]:
            if p is not None:
                self.add_parent(p)

    # -- metadata ----------------------------------------------------------------------------
    @property
    def properties(self) -> dict[str, Any]:
        return self.metadata.properties

    @property
    def tags(self) -> dict[str, str]:
        return self.metadata.tags

    def add_tag(self, key: str, value: str) -> None:
        self.metadata.tags[key] = value

    def add_property(self, key: str, value: Any) -> None:
        self.metadata.properties[key] = value

    @classmethod
    def create(
        cls: type[A],
        data: Any = None,
        name: str | None = None,
        version: str | None = None,
        parent: Asset | None = None,
        **metadata: Any,
    ) -> A:
        """``Asset.create(data=..., name=..., description=..., **metadata)``: extra keywords become properties.

        ``tags=`` and ``properties=`` are taken as they are; ``parents=[...]`` adds several parents.
        """
        extra = _split(metadata)
        return cls(name=name or _default_name(cls), version=version, data=data, parent=parent, **extra)

    # -- lineage -----------------------------------------------------------------------------
    def add_parent(self, parent: Asset) -> None:
        """Record that this asset was derived from ``parent``."""
        if not isinstance(parent, Asset):
            raise TypeError(f"{type(self).__name__} {self.name!r}: a parent must be an asset, got {parent!r}")
        if parent.asset_id not in self.metadata.parent_ids:
            self.parents.append(parent)
            self.metadata.parent_ids.append(parent.asset_id)
            parent.children.append(self)

    def get_all_ancestors(self) -> set[Asset]:
        return _closure(self, "parents")

    def get_all_descendants(self) -> set[Asset]:
        return _closure(self, "children")

    def get_lineage(self, depth: int = -1) -> dict[str, Any]:
        """This asset with its ancestors (under ``parents``) and descendants (under ``children``).

        ``depth`` limits the levels in each direction (-1: all).
        """
        return {
            "asset": self._summary(),
            "parents": self._walk_lineage("parents", depth),
            "children": self._walk_lineage("children", depth),
        }

    def _summary(self) -> dict[str, Any]:
        return {"asset_id": self.asset_id, "name": self.name, "type": type(self).__name__, "version": self.version}

    def _walk_lineage(self, direction: str, depth: int) -> list[dict[str, Any]]:
        if depth == 0:
            return []
        return [
            {"asset": a._summary(), direction: a._walk_lineage(direction, depth - 1)} for a in getattr(self, direction)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "metadata": self.metadata.to_dict(),
            "lineage": {"parents": [p.asset_id for p in self.parents], "children": [c.asset_id for c in self.children]},
        }

    # -- identity and pickling -----------------------------------------------------------------
    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self.version!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Asset) and self.asset_id == other.asset_id

    def __hash__(self) -> int:
        return hash(self.asset_id)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["parents"] = [p._reference() for p in self.parents]
        state["children"] = []
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _reference(self) -> Asset:
        """A data-less copy that keeps this asset's class, identity, metadata and its own parents' references."""
        ref = object.__new__(type(self))
        state = {k: v for k, v in self.__dict__.items() if k not in ("parents", "children")}
        ref.__dict__.update(state, data=None, parents=[p._reference() for p in self.parents], children=[])
        return ref


def _split(metadata: dict[str, Any]) -> dict[str, Any]:
    """``create()`` keywords as constructor arguments: tags, properties (plus the free keywords), parents."""
    properties = dict(metadata.pop("properties", None) or {})
    extra = {
        "tags": dict(metadata.pop("tags", None) or {}),
        "parents": list(metadata.pop("parents", None) or ()),
        "upload": bool(metadata.pop("upload", False)),
    }
    properties.update(metadata)
    extra["properties"] = properties
    return extra


def _default_name(cls: type) -> str:
    return f"{cls.__name__}_{datetime.now():%Y%m%d_%H%M%S}"


def _closure(start: Asset, attribute: str) -> set[Asset]:
    seen: set[Asset] = set()
    stack = list(getattr(start, attribute))
    while stack:
        asset = stack.pop()
        if asset not in seen:
            seen.add(asset)
            stack.extend(getattr(asset, attribute))
    return seen


def dataset_stats(data: Any) -> dict[str, Any]:
    """What can be read off the data cheaply: samples, features and columns (never imports a library)."""
    if isinstance(data, Mapping):
        features = data.get("features")
        if isinstance(features, Mapping):
            target = next((k for k in ("target", "label", "labels", "y") if k in data), None)
            names = [str(c) for c in features]
            stats: dict[str, Any] = {"num_features": len(names), "feature_columns": names}
            if target is not None:
                stats["label_column"] = target
            lengths = {len(v) for v in features.values() if hasattr(v, "__len__")}
            if len(lengths) == 1:
                stats["num_samples"] = lengths.pop()
            return stats
        lengths = {len(v) for v in data.values() if isinstance(v, (list, tuple)) or hasattr(v, "shape")}
        if data and len(lengths) == 1:
            return {"columns": [str(c) for c in data], "num_features": len(data), "num_samples": lengths.pop()}
        return {}
    columns = getattr(data, "columns", None)
    shape = getattr(data, "shape", None)
    if shape is not None and isinstance(shape, tuple) and shape:
        stats = {"num_samples": int(shape[0]), "shape": [int(s) for s in shape]}
        if columns is not None:
            stats["columns"] = [str(c) for c in columns]
            stats["num_features"] = len(stats["columns"])
        elif len(shape) > 1:
            stats["num_features"] = int(shape[1])
        return stats
    if isinstance(data, (list, tuple)):
        return {"num_samples": len(data)}
    return {}


class Dataset(Asset):
    """A dataset: its data plus what can be read off it (``num_samples``, ``num_features``, columns)."""

    def __init__(
        self,
        name: str,
        version: str | None = None,
        data: Any = None,
        schema: Any = None,
        location: str | None = None,
        parent: Asset | None = None,
        tags: Mapping[str, str] | None = None,
        properties: Mapping[str, Any] | None = None,
        auto_extract_stats: bool = True,
        upload: bool = False,
        parents: Iterable[Asset] = (),
    ) -> None:
        props = dict(properties or {})
        if auto_extract_stats and data is not None:
            for key, value in dataset_stats(data).items():
                props.setdefault(key, value)
        super().__init__(name, version, data, parent, tags, props, upload, parents)
        self.schema = schema
        self.location = location
        if schema is not None:
            self.metadata.properties["schema"] = str(schema)
        if location:
            self.metadata.properties["location"] = location

    @classmethod
    def create(
        cls,
        data: Any = None,
        name: str | None = None,
        version: str | None = None,
        parent: Asset | None = None,
        schema: Any = None,
        location: str | None = None,
        auto_extract_stats: bool = True,
        **metadata: Any,
    ) -> Dataset:
        """``Dataset.create(data=..., name=..., source=..., split=...)``; extra keywords become properties."""
        extra = _split(metadata)
        return cls(
            name or _default_name(cls),
            version,
            data,
            schema,
            location,
            parent,
            auto_extract_stats=auto_extract_stats,
            **extra,
        )

    @property
    def num_samples(self) -> int | None:
        """Read off the data (``num_samples``), else a ``samples`` property given at creation (FlowyML's key)."""
        counted = self.properties.get("num_samples")
        return counted if counted is not None else self.properties.get("samples")

    @property
    def num_features(self) -> int | None:
        return self.properties.get("num_features")

    @property
    def feature_columns(self) -> list[str] | None:
        return self.properties.get("feature_columns")

    @property
    def label_column(self) -> str | None:
        return self.properties.get("label_column")

    @property
    def columns(self) -> list[str] | None:
        return self.properties.get("columns") or self.properties.get("feature_columns")

    @property
    def size(self) -> int | None:
        return self.num_samples


#: top-level package of a model's class -> framework name
_FRAMEWORKS = {
    "sklearn": "sklearn",
    "torch": "pytorch",
    "keras": "keras",
    "tensorflow": "tensorflow",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "transformers": "huggingface",
    "catboost": "catboost",
}


def detect_framework(model: Any) -> str | None:
    """The framework a model object comes from, by its class's module (no library is imported)."""
    for cls in type(model).__mro__:
        top = cls.__module__.split(".")[0]
        if top in _FRAMEWORKS:
            return _FRAMEWORKS[top]
    return None


class Model(Asset):
    """A trained (or initialised) model; ``trained_on=`` records the datasets it learned from."""

    def __init__(
        self,
        name: str,
        version: str | None = None,
        data: Any = None,
        architecture: str | None = None,
        framework: str | None = None,
        input_shape: tuple[int, ...] | None = None,
        output_shape: tuple[int, ...] | None = None,
        trained_on: Asset | Iterable[Asset] | None = None,
        parent: Asset | None = None,
        tags: Mapping[str, str] | None = None,
        properties: Mapping[str, Any] | None = None,
        training_history: Mapping[str, list[Any]] | None = None,
        auto_extract: bool = True,
        upload: bool = False,
        parents: Iterable[Asset] = (),
    ) -> None:
        if auto_extract and data is not None:
            framework = framework or detect_framework(data)
            architecture = architecture or (type(data).__name__ if framework else None)
        datasets = [trained_on] if isinstance(trained_on, Asset) else list(trained_on or [])
        super().__init__(name, version, data, parent, tags, properties, upload, [*parents, *datasets])
        self.architecture = architecture
        self.framework = framework
        self.input_shape = input_shape
        self.output_shape = output_shape
        self.training_history = dict(training_history) if training_history else None
        for key, value in (
            ("architecture", architecture),
            ("framework", framework),
            ("input_shape", input_shape),
            ("output_shape", output_shape),
        ):
            if value is not None:
                self.metadata.properties[key] = str(value) if key.endswith("shape") else value
        if datasets:
            self.metadata.properties["trained_on"] = [d.name for d in datasets]

    @classmethod
    def create(
        cls,
        data: Any = None,
        name: str | None = None,
        version: str | None = None,
        parent: Asset | None = None,
        **metadata: Any,
    ) -> Model:
        """``Model.create(data=model, name=..., trained_on=dataset, framework=..., **metadata)``."""
        own = {
            key: metadata.pop(key)
            for key in ("architecture", "framework", "input_shape", "output_shape", "trained_on", "training_history")
            if key in metadata
        }
        auto_extract = bool(metadata.pop("auto_extract", True))
        extra = _split(metadata)
        return cls(name or _default_name(cls), version, data, parent=parent, auto_extract=auto_extract, **own, **extra)

    @classmethod
    def from_keras(cls, model: Any, name: str | None = None, **metadata: Any) -> Model:
        """``Model.create`` with ``framework="keras"`` (no introspection of the model)."""
        return cls.create(data=model, name=name, framework="keras", **metadata)

    @classmethod
    def from_pytorch(cls, model: Any, name: str | None = None, **metadata: Any) -> Model:
        return cls.create(data=model, name=name, framework="pytorch", **metadata)

    @classmethod
    def from_sklearn(cls, model: Any, name: str | None = None, **metadata: Any) -> Model:
        return cls.create(data=model, name=name, framework="sklearn", **metadata)

    def get_training_datasets(self) -> list[Dataset]:
        return [p for p in self.parents if isinstance(p, Dataset)]


class Metrics(Asset):
    """Evaluation results: ``Metrics.create(accuracy=0.95, loss=0.05)``; the values are also properties."""

    def __init__(
        self,
        name: str = "metrics",
        version: str | None = None,
        data: Mapping[str, Any] | None = None,
        parent: Asset | None = None,
        tags: Mapping[str, str] | None = None,
        properties: Mapping[str, Any] | None = None,
        upload: bool = False,
        parents: Iterable[Asset] = (),
        **metrics: Any,
    ) -> None:
        values = {**(data or {}), **metrics}
        super().__init__(name, version, values, parent, tags, {**(properties or {}), **values}, upload, parents)

    @classmethod
    def create(
        cls,
        data: Mapping[str, Any] | None = None,
        name: str | None = None,
        version: str | None = None,
        parent: Asset | None = None,
        metrics: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        properties: Mapping[str, Any] | None = None,
        parents: Iterable[Asset] = (),
        **values: Any,
    ) -> Metrics:
        """Metrics from ``data=`` / ``metrics=`` and keywords; ``metadata=`` strings become tags, others properties."""
        all_tags = dict(tags or {})
        all_props = dict(properties or {})
        for key, value in (metadata or {}).items():
            (all_tags if isinstance(value, str) else all_props)[key] = value
        return cls(
            name or "metrics",
            version,
            {**(data or {}), **(metrics or {}), **values},
            parent,
            all_tags,
            all_props,
            parents=parents,
        )

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.data or {})

    def get_metric(self, name: str, default: Any = None) -> Any:
        return (self.data or {}).get(name, self.properties.get(name, default))

    def add_metric(self, name: str, value: Any) -> None:
        if self.data is None:
            self.data = {}
        self.data[name] = value
        self.metadata.properties[name] = value

    def get_all_metrics(self) -> dict[str, Any]:
        return dict(self.data or {})

    def compare_with(self, other: Metrics) -> dict[str, dict[str, Any]]:
        """Per metric: this value, the other's, and their difference when both are numbers."""
        mine, theirs = self.get_all_metrics(), other.get_all_metrics()
        out: dict[str, dict[str, Any]] = {}
        for key in sorted(set(mine) | set(theirs)):
            a, b = mine.get(key), theirs.get(key)
            numeric = isinstance(a, (int, float)) and isinstance(b, (int, float))
            out[key] = {"self": a, "other": b, "diff": a - b if numeric else None}  # type: ignore[operator]
        return out


__all__ = ["Asset", "AssetMetadata", "Dataset", "Metrics", "Model", "dataset_stats", "detect_framework"]
