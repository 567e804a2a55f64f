"""Artifact save + load (issue 14): a numpy array and bytes through ``ArtifactStore``, against the raw baseline.

Each measurement runs in a fresh interpreter (``python -m bench.cases.artifacts child ...``)
that builds the object, resets its peak-RSS counter (``/proc/self/clear_refs``), then times
save and load and reports its peak RSS above what it held before. Baselines, in the same run,
interleaved with flowyml's repetitions:

* ``file://``: ``np.save`` + fsync + ``np.load`` (bytes: write + fsync + read);
* S3 (moto on 127.0.0.1, its own process): boto3's ``upload_fileobj`` + ``download_fileobj`` of
  the same bytes (the ``.npy`` bytes for the array, made before the clock starts).

Each child also reports its CPU seconds (all its threads): on a busy machine wall time follows
CPU time. flowyml's extra work is the sha256 and CRC-32 of every byte on the way out (on a second
thread, while the writes wait for the disk) and the CRC-32 on the way back; one pass of each over
the same bytes is timed in the same run, as a reference.

``BENCH_ARTIFACTS_STORES=file`` measures ``file://`` only (S3 on moto takes minutes per GiB).

"Extra peak RSS" is flowyml's peak above the baseline's peak, as a fraction of the object's size.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench.model import CaseResult, Row, median
from bench.proc import PYTHON, REPO_ROOT, child_env, timed_run
from bench.settings import Settings

TITLE = "Artifacts: save + load through ArtifactStore vs the raw baseline"
GiB = 1024**3
SIZES = {"full": GiB, "smoke": 8 * 1024 * 1024}
REPS = {"full": 5, "smoke": 1}
S3_REPS = {"full": 1, "smoke": 1}  # moto moves about 20-100 MB/s: one round of 1 GiB takes minutes
BUCKET = "flowyml-bench-artifacts"
REGION = "us-east-1"


# -- the child: one measurement ------------------------------------------------------------------
def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _make(kind: str, size: int) -> Any:
    import numpy as np

    rng = np.random.default_rng(14)
    if kind == "numpy":
        return rng.random(size // 8)
    return rng.bytes(size)


def _same(kind: str, a: Any, b: Any) -> bool:
    if kind == "numpy":
        import numpy as np

        return bool(np.array_equal(a, b))
    return bool(a == b)


def _raw_file(kind: str, obj: Any, workdir: str) -> tuple[Callable[[], None], Callable[[], Any]]:
    import numpy as np

    path = os.path.join(workdir, "raw.npy" if kind == "numpy" else "raw.bin")

    def save() -> None:
        with open(path, "wb") as f:
            if kind == "numpy":
                np.save(f, obj, allow_pickle=False)
            else:
                f.write(obj)
            f.flush()
            os.fsync(f.fileno())

    def load() -> Any:
        if kind == "numpy":
            return np.load(path, allow_pickle=False)
        with open(path, "rb") as f:
            return f.read()

    return save, load


def _raw_s3(kind: str, obj: Any, endpoint: str) -> tuple[Callable[[], None], Callable[[], Any], memoryview]:
    import io

    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    if kind == "numpy":
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, obj, allow_pickle=False)
        payload = buf.getbuffer()
    else:
        payload = memoryview(obj)
    key = f"raw/{os.getpid()}"

    def save() -> None:
        s3.upload_fileobj(io.BytesIO(payload), BUCKET, key)  # type: ignore[arg-type]

    def load() -> Any:
        out = io.BytesIO()
        s3.download_fileobj(BUCKET, key, out)
        return out

    return save, load, payload


def _flowyml(
    kind: str, obj: Any, root: str, settings: dict[str, str]
) -> tuple[Callable[[], str], Callable[[str], Any]]:
    from flowyml.artifacts import ArtifactStore

    store = ArtifactStore(root, settings)
    key = f"bench/{kind}-{os.getpid()}"
    return (lambda: store.save(obj, key)), store.load


def _hash_passes(obj: Any) -> dict[str, Any]:
    """Seconds of one sha256 pass and one CRC-32 pass over the object's bytes (8 MiB updates, this thread)."""
    import hashlib
    import zlib

    view = memoryview(obj).cast("B")
    step = 8 * 1024 * 1024
    t0 = time.perf_counter()
    sha = hashlib.sha256()
    for start in range(0, len(view), step):
        sha.update(view[start : start + step])
    t1 = time.perf_counter()
    crc = 0
    for start in range(0, len(view), step):
        crc = zlib.crc32(view[start : start + step], crc)
    t2 = time.perf_counter()
    return {"sha256_s": t1 - t0, "crc32_s": t2 - t1}


def child(variant: str, kind: str, size: int, workdir: str, endpoint: str) -> dict[str, Any]:
    obj = _make(kind, size)
    if variant == "hashes":
        return _hash_passes(obj)
    if variant == "raw-file":
        save, load = _raw_file(kind, obj, workdir)
    elif variant == "raw-s3":
        save, load, payload = _raw_s3(kind, obj, endpoint)
    else:
        root = f"file://{workdir}/store" if variant == "flowyml-file" else f"s3://{BUCKET}/artifacts"
        settings = {} if variant == "flowyml-file" else {"endpoint_url": endpoint, "region": REGION}
        fsave, fload = _flowyml(kind, obj, root, settings)
        uri: list[str] = []
        save, load = (lambda: uri.append(fsave())), (lambda: fload(uri[-1]))
    with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
        fh.write("5")  # VmHWM := VmRSS: the peak from here on
    before = _status_kb("VmRSS")
    cpu0 = time.process_time()  # every thread of this process: the hashing thread counts
    t0 = time.perf_counter()
    save()
    t1 = time.perf_counter()
    back = load()
    t2 = time.perf_counter()
    cpu = time.process_time() - cpu0
    peak = _status_kb("VmHWM")
    ok = back.getvalue() == payload if variant == "raw-s3" else _same(kind, obj, back)
    if not ok:
        raise RuntimeError(f"{variant} {kind}: what came back differs from what was saved")
    return {
        "save_s": t1 - t0,
        "load_s": t2 - t1,
        "total_s": t2 - t0,
        "cpu_s": cpu,
        "extra_peak_mb": (peak - before) / 1024,
    }


# -- the parent: moto, repetitions, rows ------------------------------------------------------------
def available() -> str | None:
    if importlib.util.find_spec("numpy") is None:
        return "numpy is not installed"
    if not os.path.exists("/proc/self/clear_refs"):
        return "no /proc/self/clear_refs (peak RSS cannot be reset on this system)"
    return None


def _s3_missing() -> str | None:
    for module in ("flowyml_aws", "boto3", "moto"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed"
    return None


def _measure(variant: str, kind: str, size: int, workdir: str, endpoint: str = "") -> dict[str, float]:
    argv = [PYTHON, "-m", "bench.cases.artifacts", "child", variant, kind, str(size), workdir, endpoint]
    _, _, out = timed_run(argv, cwd=REPO_ROOT, env=child_env())
    return json.loads(out.strip().splitlines()[-1])


def _series(pairs: list[tuple[str, ...]], kind: str, size: int, reps: int, workdir: str, endpoint: str = "") -> dict:
    """``reps`` rounds of every variant in ``pairs`` (interleaved), each in a fresh process."""
    runs: dict[str, list[dict[str, float]]] = {v: [] for pair in pairs for v in pair}
    for _ in range(reps):
        for pair in pairs:
            for variant in pair:
                runs[variant].append(_measure(variant, kind, size, workdir, endpoint))
                _cleanup(workdir, endpoint)
    return {v: {k: round(median([r[k] for r in rs]), 3) for k in rs[0]} | {"runs": rs} for v, rs in runs.items()}


def _cleanup(workdir: str, endpoint: str) -> None:
    import shutil

    for name in os.listdir(workdir):
        path = os.path.join(workdir, name)
        shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
    if endpoint:
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=BUCKET, Key=obj["Key"])


def _rows(result: CaseResult, where: str, baseline: str, doc: dict, size: int, kind: str, label: str) -> None:
    ours, raw = doc[f"flowyml-{where}"], doc[f"raw-{where}"]
    ratio = ours["total_s"] / raw["total_s"]
    extra = (ours["extra_peak_mb"] - raw["extra_peak_mb"]) * 1024 * 1024 / size
    ratios = sorted(o["total_s"] / r["total_s"] for o, r in zip(ours["runs"], raw["runs"], strict=True))
    hashes = doc.get("hashes")
    passes = (
        f"; one pass over the bytes: sha256 {hashes['sha256_s']:.2f} s, CRC-32 {hashes['crc32_s']:.2f} s"
        if hashes
        else ""
    )
    result.rows.append(
        Row.of(
            f"artifacts_{where}_{kind}_ratio",
            f"{label}: save + load vs {baseline}",
            round(ratio, 2),
            "x",
            f"medians of {len(ratios)}: {ours['total_s']:.2f} s "
            f"(save {ours['save_s']:.2f} + load {ours['load_s']:.2f}) vs "
            f"{raw['total_s']:.2f} s (save {raw['save_s']:.2f} + load {raw['load_s']:.2f}); per-round ratios "
            f"{ratios[0]:.2f} to {ratios[-1]:.2f}; CPU {ours['cpu_s']:.2f} s vs {raw['cpu_s']:.2f} s "
            f"(this process only, not the moto server){passes}",
        )
    )
    result.rows.append(
        Row.of(
            f"artifacts_{where}_{kind}_extra_rss",
            f"{label}: extra peak RSS over the baseline, per byte of the object",
            round(extra, 3),
            "x",
            f"peak above the start: {ours['extra_peak_mb']:.0f} MB vs {raw['extra_peak_mb']:.0f} MB",
        )
    )


def run(settings: Settings) -> CaseResult:
    from bench.model import skipped

    missing = available()
    size, reps = SIZES[settings.mode], REPS[settings.mode]
    if missing:
        return skipped("artifacts", TITLE, missing)
    result = CaseResult("artifacts", TITLE)
    mib = f"{size / 1024 / 1024:.0f} MiB"
    with tempfile.TemporaryDirectory(prefix="flowyml-bench-artifacts-") as workdir:
        stores = os.environ.get("BENCH_ARTIFACTS_STORES", "file,s3").split(",")
        for kind in ("numpy", "bytes") if "file" in stores else ():
            doc = _series([("raw-file", "flowyml-file", "hashes")], kind, size, reps, workdir)
            result.details[f"file_{kind}"] = doc
            what = f"{mib} numpy float64 array" if kind == "numpy" else f"{mib} of bytes"
            base = "np.save + fsync + np.load" if kind == "numpy" else "write + fsync + read"
            _rows(result, "file", base, doc, size, kind, f"`file://`, {what}")
        s3_missing = _s3_missing() if "s3" in stores else "not asked for (BENCH_ARTIFACTS_STORES)"
        if s3_missing:
            result.details["s3"] = f"not measured: {s3_missing}"
            return result
        from bench.cases.aws import CountingMoto, offline_aws_env

        with offline_aws_env():
            moto = CountingMoto()
            endpoint = moto.start()
            try:
                import boto3

                boto3.client("s3", endpoint_url=endpoint, region_name=REGION).create_bucket(Bucket=BUCKET)
                for kind in ("numpy", "bytes"):
                    doc = _series([("raw-s3", "flowyml-s3")], kind, size, S3_REPS[settings.mode], workdir, endpoint)
                    result.details[f"s3_{kind}"] = doc
                    what = f"{mib} numpy float64 array" if kind == "numpy" else f"{mib} of bytes"
                    _rows(
                        result, "s3", "boto3 upload_fileobj + download_fileobj", doc, size, kind, f"S3 (moto), {what}"
                    )
            finally:
                moto.stop()
    return result


if __name__ == "__main__":
    if len(sys.argv) >= 6 and sys.argv[1] == "child":
        _, _, variant, kind, size, workdir, *rest = sys.argv
        sys.stdout.write(json.dumps(child(variant, kind, int(size), workdir, rest[0] if rest else "")) + "\n")
    else:
        raise SystemExit("usage: python -m bench.cases.artifacts child VARIANT KIND SIZE WORKDIR [ENDPOINT]")
