"""Caching written the FlowyML 2.x way: ``cache="code_hash"``, ``cache="input_hash"`` and ``cache=False``.

The second run takes the first two steps from the cache (the alerts step never caches); after
``invalidate_cache(step="smooth")`` that one step runs again.

    python examples/flowyml2/caching.py
"""

import time

from flowyml import Pipeline, context, step

settings = context(station="north-ridge", window_hours=6)


@step(outputs=["readings/hourly"], cache="code_hash")
def fetch_readings(station: str):
    time.sleep(0.2)  # a slow download
    return {"station": station, "celsius": [4.0, 5.5, 7.0, 6.5, 3.0, 2.5, 2.0, 1.0]}


@step(inputs=["readings/hourly"], outputs=["readings/smoothed"], cache="input_hash")
def smooth(readings, window_hours: int):
    recent = readings["celsius"][-window_hours:]
    return {"station": readings["station"], "mean": round(sum(recent) / len(recent), 2)}


@step(inputs=["readings/smoothed"], outputs=["alerts"], cache=False)
def raise_alerts(smoothed):
    print(f"checking {smoothed['station']}: mean {smoothed['mean']} °C")
    return ["frost"] if smoothed["mean"] < 4 else []


pipeline = Pipeline("station_report", context=settings)
pipeline.add_step(fetch_readings).add_step(smooth).add_step(raise_alerts)

if __name__ == "__main__":
    pipeline.invalidate_cache()  # start cold, whatever earlier runs left behind
    first = pipeline.run(debug=True)
    second = pipeline.run(debug=True)
    print(second.summary())
    stats = pipeline.cache_stats()
    print(f"hits {stats['hits']}, misses {stats['misses']}, hit rate {stats['hit_rate']:.0%}")
    print(f"cache size {stats['total_size_mb']:.4f} MB in {stats['total_entries']} entries")
    assert [r.cached for r in first.step_results.values()] == [False, False, False]
    assert [r.cached for r in second.step_results.values()] == [True, True, False]
    assert second["alerts"] == first["raise_alerts"] == ["frost"]
    assert second["readings/smoothed"] == {"station": "north-ridge", "mean": 3.67}
    assert pipeline.invalidate_cache(step="smooth") == 1
    third = pipeline.run()
    assert [r.cached for r in third.step_results.values()] == [True, False, False]
