"""Import and CLI start-up: fresh interpreters against a bare ``python -c pass``; heavy modules loaded.

Timed in a clean venv holding only flowyml-core (what a user installs) when one can be made,
and in the dev venv the bench runs in (all backends installed, more ``.pth`` files at start-up).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.model import CaseResult, Row, median, summary
from bench.proc import PYTHON, child_env, cpu_run, json_line, script_path, timed_run
from bench.settings import Settings
from bench.venv import clean_venv, venv_python

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


def _interleaved(
    commands: dict[str, list[str]], reps: int, cwd: str
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """(wall, CPU) seconds of each command, run in turn ``reps`` times after one untimed warm-up each."""
    env = child_env()
    for argv in commands.values():
        timed_run(argv, cwd=cwd, env=env)
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(reps):
        for name, argv in commands.items():
            wall, cpu = cpu_run(argv, cwd=cwd, env=env)
            walls[name].append(wall)
            cpus[name].append(cpu)
    return walls, cpus


def _importtime_top(python: str, cwd: str, top: int = 12) -> list[dict[str, Any]]:
    """The modules with the largest self time under ``-X importtime`` (one run: indicative only)."""
    err = subprocess.run(
        [python, "-X", "importtime", "-c", IMPORT_STMT], cwd=cwd, env=child_env(), capture_output=True, text=True
    ).stderr
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, cumulative, name = (part.strip() for part in line.split(":", 1)[1].split("|"))
        if self_us.isdigit():
            rows.append({"module": name, "self_ms": int(self_us) / 1000, "cumulative_ms": int(cumulative) / 1000})
    return sorted(rows, key=lambda r: -r["self_ms"])[:top]


def _startup_rows(where: str, python: str, reps: int, cwd: str, targeted: bool) -> tuple[list[Row], dict[str, Any]]:
    """Import and ``flowyml --help`` against bare start-up with one interpreter."""
    commands = {"bare": [python, "-c", "pass"], "import": [python, "-c", IMPORT_STMT]}
    cli = Path(python).parent / "flowyml"
    if cli.exists():
        commands["cli_help"] = [str(cli), "--help"]
    times, cpus = _interleaved(commands, reps, cwd)
    bare, imp = median(times["bare"]), median(times["import"])
    cpu_ratio = median(cpus["import"]) / median(cpus["bare"])
    suffix = "" if targeted else "_dev"
    rows = [
        Row.of(
            f"import_ratio{suffix}",
            f"`{IMPORT_STMT}` vs bare `python -c pass` ({where})",
            round(imp / bare, 2),
            "x",
            f"{imp * 1000:.1f} ms vs {bare * 1000:.1f} ms (median of {reps}); in CPU time {cpu_ratio:.2f}x",
        )
    ]
    if cli.exists():
        helps = median(times["cli_help"])
        help_cpu_ratio = median(cpus["cli_help"]) / median(cpus["bare"])
        rows.append(
            Row.of(
                f"cli_help_ratio{suffix}",
                f"`flowyml --help` vs bare `python -c pass` ({where})",
                round(helps / bare, 2),
                "x",
                f"{helps * 1000:.1f} ms (median of {reps}); in CPU time {help_cpu_ratio:.2f}x",
            )
        )
    else:
        rows.append(Row.of(f"cli_help_ratio{suffix}", f"`flowyml --help` ({where})", None, "x", "no `flowyml` script"))
    details = {name: summary(ts, 1000, 1) for name, ts in times.items()}
    details.update({f"{name}_cpu": summary(ts, 1000, 1) for name, ts in cpus.items()})
    return rows, details


def run(settings: Settings) -> CaseResult:
    result = CaseResult("startup", "Import and CLI start-up (fresh interpreter each time)")
    with tempfile.TemporaryDirectory(prefix="flowyml-bench-") as cwd:
        venv, how = clean_venv() if settings.clean_venv else (None, "not built in smoke mode")
        result.details["clean_venv"] = how
        if venv is not None:
            rows, walls = _startup_rows("clean venv", venv_python(venv), settings.import_reps, cwd, targeted=True)
            result.rows += rows
            result.details["wall_ms_clean_venv"] = walls
            result.details["importtime_top_self_clean_venv"] = _importtime_top(venv_python(venv), cwd)
        rows, walls = _startup_rows("dev venv", PYTHON, settings.import_reps, cwd, targeted=venv is None)
        if venv is None:
            for row in rows:
                row.note += f"; no clean venv ({how})"
        result.rows += rows
        result.details["wall_ms_dev_venv"] = walls
        result.details["importtime_top_self_dev_venv"] = _importtime_top(PYTHON, cwd)

        probe = _probe(IMPORT_STMT, cwd)
        result.details["import_probe"] = probe
        result.rows.append(
            Row.of(
                "heavy_modules",
                "cloud SDK / numpy / pandas packages loaded by the import (dev venv, all backends installed)",
                len(probe["heavy"]),
                "pkgs",
                ", ".join(probe["heavy"]) or f"none; the import adds {probe['new_modules']} modules",
            )
        )
        plugins = _probe(PLUGINS_STMT, cwd)
        result.details["plugins_probe"] = plugins
        result.rows.append(
            Row.of(
                "heavy_modules_plugins",
                "... and after plugin discovery (every installed backend's entry point loaded)",
                len(plugins["heavy"]),
                "pkgs",
                ", ".join(plugins["heavy"])
                or f"none; backends: {', '.join(plugins['backends'] or [])}; {plugins['modules']} modules in total",
            )
        )
    result.details["cli_script"] = str(script_path("flowyml"))
    return result
