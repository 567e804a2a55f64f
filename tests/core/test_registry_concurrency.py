"""The run registry opened by many threads and processes at once, on a database that does not exist yet."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators.registry import RunRegistry
from flowyml.plugins.types import RunHandle


def _open_and_record(path: Path, index: int, errors: list[BaseException], start: threading.Barrier) -> None:
    try:
        start.wait()
        RunRegistry(path).record(RunHandle(backend="local", run_id=f"r{index}", job_id=f"r{index}"), stack="s")
    except BaseException as exc:
        errors.append(exc)


def test_threads_creating_the_registry_at_once_all_succeed(tmp_path: Path) -> None:
    for round_ in range(20):
        path = tmp_path / f"round{round_}" / "runs.db"
        errors: list[BaseException] = []
        start = threading.Barrier(12)
        threads = [threading.Thread(target=_open_and_record, args=(path, i, errors, start)) for i in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        registry = RunRegistry(path)
        assert sorted(r.run_id for r in registry.list()) == sorted(f"r{i}" for i in range(12))
        assert all(r.status is ExecutionStatus.PENDING for r in registry.list())


def test_processes_creating_the_registry_at_once_all_succeed(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    code = (
        "import sys\n"
        "from flowyml.orchestrators.registry import RunRegistry\n"
        "from flowyml.plugins.types import RunHandle\n"
        "i = sys.argv[2]\n"
        "RunRegistry(sys.argv[1]).record(RunHandle(backend='local', run_id='p' + i, job_id='p' + i))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), str(i)]) for i in range(6)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 6
    assert len(RunRegistry(path).list()) == 6
