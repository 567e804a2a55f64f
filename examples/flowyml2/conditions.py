"""Conditional steps, as a FlowyML 2.x user writes them.

A condition's parameters are filled from the context, from every output so far, and from the
keys of dict outputs (``quality_score`` below comes from ``data/cleaned``).

    python examples/flowyml2/conditions.py
"""

from flowyml import Pipeline, context, step

ctx = context(data_quality_threshold=0.9, enable_advanced_features=True, run_expensive_validation=False)


@step(outputs=["data/raw"])
def load_data():
    return {"quality_score": 0.85, "rows": 10000}


@step(inputs=["data/raw"], outputs=["data/cleaned"])
def clean_data(data):
    print(f"Cleaning data with quality score {data['quality_score']}")
    return {"quality_score": 0.92, "rows": 9500}


@step(inputs=["data/cleaned"], outputs=["data/enhanced"], condition=lambda quality_score: quality_score < 0.9)
def enhance_data_quality(data, data_quality_threshold: float):
    return {"quality_score": 0.95, "rows": data["rows"]}


@step(
    inputs=["data/cleaned"],
    outputs=["features/advanced"],
    condition=lambda enable_advanced_features: enable_advanced_features,
)
def extract_advanced_features(data, enable_advanced_features: bool):
    return {"feature_count": 100, "rows": data["rows"]}


@step(inputs=["data/cleaned"], outputs=["model/trained"])
def train_model(data):
    return {"accuracy": 0.93, "rows": data["rows"]}


pipeline = Pipeline("conditional_example", context=ctx)
pipeline.add_step(load_data)
pipeline.add_step(clean_data)
pipeline.add_step(enhance_data_quality)  # skipped: the cleaned quality is 0.92
pipeline.add_step(extract_advanced_features)  # runs: the flag is on
pipeline.add_step(train_model)

if __name__ == "__main__":
    result = pipeline.run(debug=True)
    assert result.success
    skipped = [name for name, r in result.step_results.items() if r.skipped]
    for name in skipped:
        print(f"Step {name!r} was skipped")
    assert skipped == ["enhance_data_quality"]
    assert result["features/advanced"] == {"feature_count": 100, "rows": 9500}
    assert result["data/enhanced"] is None and "data/enhanced" not in result
