"""The markdown table printed at the end of a run (and pasted into docs/performance.md)."""

from __future__ import annotations

from typing import Any


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == int(value) and abs(value) >= 10:
        return f"{int(value)}"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def _verdict(ok: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "-"}[ok]


def markdown(doc: dict[str, Any]) -> str:
    """One table row per metric; skipped and failed cases say why."""
    meta = doc["meta"]
    lines = [
        f"flowyml bench ({meta['mode']}) — {meta['started_utc']}, {meta['machine']}, "
        f"load avg {meta['loadavg_start']} → {meta['loadavg_end']}",
        "",
        "| case | metric | value | target | met | notes |",
        "|---|---|---:|---|---|---|",
    ]
    for case in doc["cases"]:
        if case["status"] != "measured":
            lines.append(f"| {case['case']} | {case['title']} | - | - | - | {case['note']} |")
            continue
        for row in case["rows"]:
            value = f"{_fmt(row['value'])} {row['unit']}" if row["value"] is not None else "-"
            lines.append(
                f"| {case['case']} | {row['label']} | {value} | {row['target'] or '-'} | {_verdict(row['ok'])} "
                f"| {row['note']} |"
            )
    return "\n".join(lines)
