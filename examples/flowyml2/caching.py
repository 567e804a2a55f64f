"""Caching, as a FlowyML 2.x user writes it: ``cache="code_hash"`` / ``"input_hash"`` / ``False``.

Run twice in a row: the second run takes its cached steps from the cache.

    python examples/flowyml2/caching.py
"""

import time

from flowyml import Pipeline, context, step

ctx = context(data_version="v1.0", model_type="random_forest")


@step(outputs=["data/raw"], cache="code_hash")
def load_data():
    print("Loading data (slow)...")
    time.sleep(0.2)
    return {"rows": 10000, "version": "v1.0"}


@step(inputs=["data/raw"], outputs=["data/processed"], cache="input_hash")
def preprocess(data, data_version: str):
    print(f"Preprocessing data version {data_version}...")
    return {"rows": data["rows"], "processed": True}


@step(inputs=["data/processed"], outputs=["model/trained"], cache=False)
def train_model(data, model_type: str):
    print(f"Training {model_type} (never cached)...")
    return {"accuracy": 0.92, "type": model_type, "rows": data["rows"]}


pipeline = Pipeline("caching_example", context=ctx)
pipeline.add_step(load_data)
pipeline.add_step(preprocess)
pipeline.add_step(train_model)

if __name__ == "__main__":
    first = pipeline.run(debug=True)
    second = pipeline.run(debug=True)
    print(second.summary())
    stats = pipeline.cache_stats()
    print(f"Cache hits: {stats['hits']}  misses: {stats['misses']}  hit rate: {stats['hit_rate']:.1%}")
    print(f"Total cache size: {stats['total_size_mb']:.4f} MB")
    assert [r.cached for r in second.step_results.values()] == [True, True, False]
    assert second["model/trained"] == first["train_model"] == {"accuracy": 0.92, "type": "random_forest", "rows": 10000}
