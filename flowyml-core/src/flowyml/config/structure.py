"""Plain data -> frozen attrs classes (cattrs), strict about types, with errors that name the key path.

Strict means: ``2.7`` is not an ``int`` (no silent truncation), ``yes`` is not a string, a list is
not a string. Strings of digits are numbers (``${ENV}`` interpolation yields strings).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from flowyml.config.errors import ConfigFieldError, describe, key_path
from flowyml.core.errors import ConfigError

_converter: Any = None
# Validator messages read for the field, the rule and the value: attrs' ("'max_parallel' must be >= 0: -1"),
# the common "gpu_count must be >= 0, got -1", and ours ("url: expected http(s)://host:port, found 'x'").
_VALIDATOR_MESSAGES = (
    (
        re.compile(r"^'(?P<name>\w+)' must match regex (?P<rule>'.*?') \((?P<found>.*) doesn't\)$", re.S),
        "a value matching {}",
    ),
    (re.compile(r"^'(?P<name>\w+)' must be (?P<rule>.+?): (?P<found>.*)$", re.S), "a value {}"),
    (re.compile(r"^(?P<name>\w+) must be (?P<rule>.+?), got (?P<found>.*)$", re.S), "a value {}"),
    (re.compile(r"^(?P<name>\w+): expected (?P<rule>.+?), found (?P<found>.*)$", re.S), "{}"),
)


class _Mismatch(TypeError):
    """A value of the wrong type (raised by the strict hooks below)."""

    def __init__(self, expected: str, value: Any) -> None:
        super().__init__(f"expected {expected}, found {describe(value)}")
        self.expected = expected
        self.found = describe(value)


def _strict_str(value: Any, _type: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise _Mismatch("a string", value)


def _strict_bool(value: Any, _type: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _Mismatch("true or false", value)


def _strict_int(value: Any, _type: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _Mismatch("int", value)


def _strict_float(value: Any, _type: Any) -> float:
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None:
        raise _Mismatch("float", value)
    if math.isnan(number):
        raise _Mismatch("a number (not NaN)", value)
    return number


def _register_collections(conv: Any) -> None:
    """Mappings must be mappings and lists lists (cattrs would turn ``"python x"`` into ``['p', 'y', ...]``)."""
    from cattrs.cols import is_mapping, is_mutable_sequence, list_structure_factory, mapping_structure_factory

    def mappings(type_: Any, conv_: Any) -> Any:
        inner = mapping_structure_factory(type_, conv_)

        def hook(value: Any, t: Any) -> Any:
            if not isinstance(value, Mapping):
                raise _Mismatch("a mapping", value)
            return inner(value, t)

        return hook

    def sequences(type_: Any, conv_: Any) -> Any:
        inner = list_structure_factory(type_, conv_)

        def hook(value: Any, t: Any) -> Any:
            if not isinstance(value, (list, tuple)):
                raise _Mismatch("a list", value)
            return inner(value, t)

        return hook

    conv.register_structure_hook_factory(is_mapping, mappings)
    conv.register_structure_hook_factory(is_mutable_sequence, sequences)


def converter() -> Any:
    """The strict cattrs converter of ``flowyml.yaml`` (built on first use: cattrs is not imported at startup)."""
    global _converter
    if _converter is None:
        import cattrs

        conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
        conv.register_structure_hook(str, _strict_str)
        conv.register_structure_hook(int, _strict_int)
        conv.register_structure_hook(float, _strict_float)
        conv.register_structure_hook(bool, _strict_bool)
        _register_collections(conv)
        _converter = conv
    return _converter


def structure(cls: type, data: Any, where: str, prefix: str = "") -> Any:
    """``data`` as a ``cls``; a :class:`ConfigFieldError` in file ``where`` at key path ``prefix...`` otherwise."""
    import cattrs

    if not isinstance(data, Mapping):
        raise ConfigFieldError(prefix, "a mapping", describe(data), file=where)
    try:
        return converter().structure(dict(data), cls)
    except cattrs.BaseValidationError as exc:
        problems = list(_walk(exc, []))
        error = _to_field_error(*problems[0], cls) if problems else ConfigFieldError("", "a valid value", str(exc))
        if len(problems) > 1:
            more = f"{len(problems) - 1} more problem{'s' if len(problems) > 2 else ''} in this section"
            error = _with_hint(error, more)
        raise error.located(where, prefix) from None
    except ConfigFieldError as exc:  # a validator of the class raised one
        raise exc.located(where, prefix) from None
    except (ConfigError, TypeError, ValueError) as exc:  # a validator (attrs, or the class's own)
        raise _validator_error(exc).located(where, prefix) from None


def _with_hint(error: ConfigFieldError, hint: str) -> ConfigFieldError:
    hint = f"{error.hint}; {hint}" if error.hint else hint
    return ConfigFieldError(error.key, error.expected, error.found, file=error.file, problem=error.problem, hint=hint)


def _walk(exc: BaseException, path: list[str]) -> Iterator[tuple[list[str], BaseException]]:
    """(key path, leaf exception) for every problem in a cattrs validation error."""
    import cattrs

    if isinstance(exc, (cattrs.ClassValidationError, cattrs.IterableValidationError)):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            if isinstance(note, cattrs.AttributeValidationNote):
                element = note.name
            else:
                index = getattr(note, "index", "?")
                element = f"[{index}]" if isinstance(index, int) else "null" if index is None else str(index)
            yield from _walk(sub, [*path, element])
        for sub in without:
            yield from _walk(sub, path)
    else:
        yield path, exc


def _to_field_error(path: list[str], exc: BaseException, cls: type) -> ConfigFieldError:
    import cattrs

    key = key_path(*path)
    if isinstance(exc, _Mismatch):
        return ConfigFieldError(key, exc.expected, exc.found)
    if isinstance(exc, KeyError):
        return ConfigFieldError.missing(key, "a value")
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        target = exc.cl if attrs.has(exc.cl) else cls
        allowed = ", ".join(f.name for f in attrs.fields(target)) if attrs.has(target) else "no other keys"
        unknown = ", ".join(sorted(str(k) for k in exc.extra_fields))
        return ConfigFieldError(key, f"one of: {allowed}", f"unknown key(s) {unknown}")
    if isinstance(exc, ConfigFieldError):
        return ConfigFieldError(key_path(key, exc.key), exc.expected, exc.found, problem=exc.problem, hint=exc.hint)
    error = _validator_error(exc)
    return ConfigFieldError(key_path(key, error.key), error.expected, error.found, hint=error.hint)


def _validator_error(exc: BaseException) -> ConfigFieldError:
    """A validator's own message, read for the field name and the rule when it has attrs' shape."""
    if isinstance(exc, ConfigFieldError):
        return exc
    # attrs validators raise ValueError(message, attribute, ...): the message is the first argument
    text = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    for pattern, expected in _VALIDATOR_MESSAGES:
        match = pattern.match(text)
        if match:
            return ConfigFieldError(match["name"], expected.format(match["rule"]), match["found"])
    return ConfigFieldError("", "a valid value", text)
