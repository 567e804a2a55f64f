"""Import and CLI start-up: fresh interpreters against a bare ``python -c pass``; heavy modules loaded."""

from __future__ import annotations

import tempfile
from typing import Any

from bench.model import CaseResult, Row, median, summary
from bench.proc import PYTHON, child_env, json_line, script_path, timed_run
from bench.settings import Settings

IMPORT_STMT = "from flowyml import Pipeline, step, context"
#: Top-level packages that must never load on import or plugin discovery: cloud SDKs, numpy, pandas.
HEAVY = ("numpy", "pandas", "boto3", "botocore", "s3transfer", "google", "azure", "kfp", "grpc", "sklearn", "moto")

PROBE = """
import sys
before = set(sys.modules)
{stmt}
mods = set(sys.modules)
import json
heavy = sorted({{m.split('.')[0] for m in mods - before}} & set({heavy!r}))
preloaded = sorted({{m.split('.')[0] for m in before}} & set({heavy!r}))
print(json.dumps({{"modules": len(mods), "new_modules": len(mods - before), "heavy": heavy,
                  "heavy_preloaded_by_site": preloaded, "backends": globals().get("_backends")}}))
"""

PLUGINS_STMT = (
    "from flowyml import Pipeline, step, context\n"
    "from flowyml.plugins.manager import get_plugin_manager\n"
    "_backends = sorted(get_plugin_manager().backends)\n"
)


def _probe(stmt: str, cwd: str) -> dict[str, Any]:
    _, _, out = timed_run([PYTHON, "-c", PROBE.format(stmt=stmt, heavy=HEAVY)], cwd=cwd, env=child_env())
    return json_line(out)


def _interleaved(commands: dict[str, list[str]], reps: int, cwd: str) -> dict[str, list[float]]:
    """Wall seconds of each command, run in turn ``reps`` times after one untimed warm-up each."""
    env = child_env()
    for argv in commands.values():
        timed_run(argv, cwd=cwd, env=env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(reps):
        for name, argv in commands.items():
            times[name].append(timed_run(argv, cwd=cwd, env=env)[0])
    return times


def _importtime_top(cwd: str, top: int = 10) -> list[dict[str, Any]]:
    """The modules with the largest self time under ``-X importtime`` (one run: indicative only)."""
    import subprocess

    err = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", IMPORT_STMT], cwd=cwd, env=child_env(), capture_output=True, text=True
    ).stderr
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, cumulative, name = (part.strip() for part in line.split(":", 1)[1].split("|"))
        if self_us.isdigit():
            rows.append(
                {"module": name.strip(), "self_ms": int(self_us) / 1000, "cumulative_ms": int(cumulative) / 1000}
            )
    return sorted(rows, key=lambda r: -r["self_ms"])[:top]


def run(settings: Settings) -> CaseResult:
    result = CaseResult("startup", "Import and CLI start-up (fresh interpreter each time)")
    with tempfile.TemporaryDirectory(prefix="flowyml-bench-") as cwd:
        commands = {"bare": [PYTHON, "-c", "pass"], "import": [PYTHON, "-c", IMPORT_STMT]}
        cli = script_path("flowyml")
        if cli is not None:
            commands["cli_help"] = [str(cli), "--help"]
        times = _interleaved(commands, settings.import_reps, cwd)
        bare = median(times["bare"])
        imp = median(times["import"])
        result.details["wall_ms"] = {name: summary(ts, 1000, 1) for name, ts in times.items()}
        result.rows.append(
            Row.of(
                "import_ratio",
                f"`{IMPORT_STMT}` vs bare `python -c pass`",
                round(imp / bare, 2),
                "x",
                f"{imp * 1000:.1f} ms vs {bare * 1000:.1f} ms (median of {settings.import_reps})",
            )
        )
        if cli is not None:
            helps = median(times["cli_help"])
            result.rows.append(
                Row.of(
                    "cli_help_ratio",
                    "`flowyml --help` vs bare `python -c pass`",
                    round(helps / bare, 2),
                    "x",
                    f"{helps * 1000:.1f} ms (median of {settings.import_reps})",
                )
            )
        else:
            result.rows.append(
                Row.of("cli_help_ratio", "`flowyml --help`", None, "x", "not measured: no `flowyml` script")
            )

        probe = _probe(IMPORT_STMT, cwd)
        result.details["import_probe"] = probe
        result.rows.append(
            Row.of(
                "heavy_modules",
                "cloud SDK / numpy / pandas modules after the import",
                len(probe["heavy"]),
                "packages",
                ", ".join(probe["heavy"]) or f"none; {probe['new_modules']} modules loaded by the import",
            )
        )
        plugins = _probe(PLUGINS_STMT, cwd)
        result.details["plugins_probe"] = plugins
        result.rows.append(
            Row.of(
                "heavy_modules_plugins",
                "… after plugin discovery (every installed backend's entry point)",
                len(plugins["heavy"]),
                "packages",
                ", ".join(plugins["heavy"]) or f"none; {plugins['modules']} modules in total",
            )
        )
        result.details["backends_installed"] = _installed_backends()
        result.details["importtime_top_self"] = _importtime_top(cwd)
    return result


def _installed_backends() -> list[str]:
    import importlib.util

    return [name for name in ("flowyml_aws", "flowyml_gcp", "flowyml_azure") if importlib.util.find_spec(name)]
