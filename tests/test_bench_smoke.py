"""The benchmark suite still runs: every case in smoke mode, checked for shape, never for speed."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.cli import CASES, main, run_all  # noqa: E402
from bench.report import markdown  # noqa: E402
from bench.settings import SMOKE  # noqa: E402
from bench.targets import TARGETS  # noqa: E402

ROW_KEYS = {"key", "label", "value", "unit", "note", "target", "ok"}


@pytest.fixture(scope="module")
def smoke_doc() -> dict:
    return run_all(SMOKE)


def test_every_case_reports(smoke_doc: dict) -> None:
    assert smoke_doc["meta"]["mode"] == "smoke"
    assert [c["case"] for c in smoke_doc["cases"]] == list(CASES)
    for case in smoke_doc["cases"]:
        assert case["status"] in ("measured", "skipped"), case.get("details", {}).get("traceback", case["note"])
        if case["status"] == "skipped":
            assert case["note"].startswith("not measured: ") and not case["rows"]
            continue
        assert case["rows"], case["case"]
        for row in case["rows"]:
            assert set(row) == ROW_KEYS
            assert row["value"] is None or isinstance(row["value"], (int, float))
            if row["key"] in TARGETS and row["value"] is not None:
                assert row["target"] == TARGETS[row["key"]].text and isinstance(row["ok"], bool)


def test_core_cases_are_measured(smoke_doc: dict) -> None:
    """The cases whose code is in core never skip; the AWS case runs whenever flowyml-aws and moto are here."""
    by_case = {c["case"]: c for c in smoke_doc["cases"]}
    expected = ["startup", "overhead", "fanout", "memory", "install", "local_backend", "aio"]
    if all(importlib.util.find_spec(m) for m in ("flowyml_aws", "moto", "boto3")):
        expected.append("aws")
    for name in expected:
        assert by_case[name]["status"] == "measured", by_case[name]["note"]
    keys = {row["key"] for c in smoke_doc["cases"] for row in c["rows"]}
    assert {"import_ratio", "heavy_modules", "fanout_ratio", "core_distributions"} <= keys
    assert {f"step_overhead_{n}" for n in SMOKE.chain_sizes} <= keys
    assert "flowyml-core" in by_case["install"]["details"]["distributions"]


def test_results_are_json_and_table_lists_every_case(smoke_doc: dict) -> None:
    text = json.dumps(smoke_doc)
    assert json.loads(text) == smoke_doc
    table = markdown(smoke_doc)
    for case in CASES:
        assert f"| {case} |" in table


def test_cli_writes_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--smoke", "--only", "install,memory", "--out", str(tmp_path)]) == 0
    written = sorted(tmp_path.glob("bench-smoke-*.json"))
    assert len(written) == 1 and not (tmp_path / "latest.json").exists()
    doc = json.loads(written[0].read_text())
    assert [c["case"] for c in doc["cases"]] == ["install", "memory"]
    assert "| install |" in capsys.readouterr().out


def test_cli_refuses_unknown_case(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--smoke", "--only", "nope", "--out", str(tmp_path)])
