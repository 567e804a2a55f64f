"""A two-node Ray cluster on 127.0.0.1 for tests and benchmarks, started and stopped by PID.

Ray binds every interface of the machine, so :class:`RayTestCluster` only starts inside a
loopback-only network namespace whose PID namespace has the caller as PID 1 (:func:`isolated`),
e.g. ``unshare -n -p -f --mount-proc sh -c 'ip link set lo up && exec python -m pytest ...'``.
There every process that appears while ``ray start`` runs belongs to this cluster, so stopping it
means signalling exactly those PIDs (and the namespace ends them all when PID 1 exits).
"""

from __future__ import annotations

__all__ = ["RayTestCluster", "isolated", "ISOLATE", "WORKER_RESOURCE"]

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path

#: the custom resource only the worker node has (one unit)
WORKER_RESOURCE = "flowyml_test_accelerator"
#: (gcs port, dashboard port) of the head; each node gets its own block of component ports
GCS_PORT, DASHBOARD_PORT = 6380, 8265
#: each node's own ports (two nodes on one address must not share any)
_NODE_PORTS = {
    "head": dict(node_manager=6390, object_manager=6391, agent=52365, agent_grpc=52366, runtime_env=52367,
                 metrics=52368, workers=(20000, 20999)),
    "worker": dict(node_manager=6392, object_manager=6393, agent=52375, agent_grpc=52376, runtime_env=52377,
                   metrics=52378, workers=(21000, 21999)),
}  # fmt: skip


#: how to run a command where :func:`isolated` holds (as root)
ISOLATE = "unshare -n -p -f --mount-proc sh -c 'ip link set lo up && exec {command}'"


def isolated() -> bool:
    """Inside a network namespace with only the loopback interface, as PID 1 of a PID namespace."""
    try:
        names = {name for _, name in socket.if_nameindex()}
    except OSError:
        return False
    return names == {"lo"} and os.getpid() == 1


def _pids() -> set[int]:
    return {int(name) for name in os.listdir("/proc") if name.isdigit()}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _reap(pids: Iterable[int]) -> None:
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass  # not our child (its parent reaps it)


class RayTestCluster:
    """``start()`` a head and one worker node (``cpus`` logical CPUs each); ``stop()`` them by PID.

    The worker node also declares one (logical) GPU of accelerator type T4 and one unit of the
    custom resource ``WORKER_RESOURCE``, so tests can check that a unit's GPU request lands there.
    """

    def __init__(self, root: Path, cpus: int = 2, python: str = sys.executable, cwd: Path | None = None) -> None:
        self.root = root
        self.cwd = cwd
        self.cpus = cpus
        self.bin = Path(python).parent
        self.pids: dict[str, set[int]] = {}
        self.address = f"http://127.0.0.1:{DASHBOARD_PORT}"
        self.gcs = f"127.0.0.1:{GCS_PORT}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_DISABLE_IMPORT_WARNING": "1",
        }

    def _start(self, name: str, args: list[str]) -> None:
        ports = _NODE_PORTS[name]
        temp = self.root / name[0]
        flags = {
            "--node-ip-address": "127.0.0.1",
            "--temp-dir": str(temp),
            "--num-cpus": str(self.cpus),
            "--node-manager-port": str(ports["node_manager"]),
            "--object-manager-port": str(ports["object_manager"]),
            "--dashboard-agent-listen-port": str(ports["agent"]),
            "--dashboard-agent-grpc-port": str(ports["agent_grpc"]),
            "--runtime-env-agent-port": str(ports["runtime_env"]),
            "--metrics-export-port": str(ports["metrics"]),
            "--min-worker-port": str(ports["workers"][0]),  # type: ignore[index]
            "--max-worker-port": str(ports["workers"][1]),  # type: ignore[index]
            "--object-store-memory": str(200 * 1024 * 1024),
            "--log-style": "record",
        }
        command = [str(self.bin / "ray"), "start", *args, *(x for pair in flags.items() for x in pair)]
        command.append("--disable-usage-stats")
        before = _pids()
        proc = subprocess.run(command, env=self.env(), cwd=self.cwd, capture_output=True, text=True, timeout=180)
        self.pids[name] = {pid for pid in _pids() - before if _alive(pid)}
        if proc.returncode != 0:
            raise RuntimeError(f"ray start ({name}) failed with {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")

    def start(self) -> RayTestCluster:
        if not isolated():
            raise RuntimeError(
                "RayTestCluster starts only in a loopback-only network namespace, as PID 1 of its own PID namespace: "
                + ISOLATE.format(command="python -m pytest ...")
            )
        self.root.mkdir(parents=True, exist_ok=True)
        head = {"--port": GCS_PORT, "--dashboard-host": "127.0.0.1", "--dashboard-port": DASHBOARD_PORT,
                "--ray-client-server-port": 10001, "--include-dashboard": "true"}  # fmt: skip
        self._start("head", ["--head", "--num-gpus", "0", *(str(x) for pair in head.items() for x in pair)])
        resources = json.dumps({WORKER_RESOURCE: 1, "accelerator_type:T4": 1})
        self._start("worker", ["--address", self.gcs, "--num-gpus", "1", "--resources", resources])
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until the dashboard answers and both nodes are alive."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.address}/nodes?view=summary", timeout=5) as reply:
                    doc = json.loads(reply.read())
                nodes = doc.get("data", {}).get("summary", [])
                alive = [n for n in nodes if n.get("raylet", {}).get("state") == "ALIVE"]
                if len(alive) >= 2:
                    return
                last = f"{len(alive)} node(s) alive"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.5)
        raise RuntimeError(f"the Ray test cluster did not come up in {timeout:.0f}s: {last}")

    def node_ids(self) -> dict[str, str]:
        """``{"head": <node id>, "worker": <node id>}`` from the dashboard."""
        with urllib.request.urlopen(f"{self.address}/nodes?view=summary", timeout=10) as reply:
            nodes = json.loads(reply.read())["data"]["summary"]
        found = {}
        for node in nodes:
            raylet = node.get("raylet", {})
            if raylet.get("state") == "ALIVE":
                found["head" if raylet.get("isHeadNode") else "worker"] = str(raylet["nodeId"])
        return found

    def node_pids(self) -> set[int]:
        return set().union(*self.pids.values()) if self.pids else set()

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every process this cluster started, then SIGKILL what is left after ``grace`` seconds.

        The PIDs are the ones that appeared during ``ray start`` plus their descendants now (workers).
        """
        pids = self.node_pids() | self._descendants(self.node_pids())
        for pid in pids:
            with _suppress():
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            _reap(pids)
            time.sleep(0.2)
        for pid in pids:
            if _alive(pid):
                with _suppress():
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        _reap(pids)
        self.pids.clear()

    @staticmethod
    def _descendants(roots: set[int]) -> set[int]:
        parents: dict[int, int] = {}
        for pid in _pids():
            try:
                parents[pid] = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, IndexError, ValueError):
                continue
        found: set[int] = set()
        frontier = set(roots)
        while frontier:
            frontier = {pid for pid, parent in parents.items() if parent in frontier and pid not in found}
            found |= frontier
        return found


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], ProcessLookupError)  # type: ignore[arg-type]
