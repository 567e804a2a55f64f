"""A small, real ML pipeline: classify scikit-learn's handwritten digits.

load -> split -> train -> evaluate -> register (only if accuracy clears the bar)

    flowyml run examples/digits.py                       # in this process
    flowyml run examples/digits.py -p C=0.5              # change a context parameter
    flowyml run examples/digits.py --stack local --detach   # as a detached run: status / logs / cancel
    DIGITS_BREAK=evaluate flowyml run examples/digits.py    # break a step, then: flowyml resume RUN_ID
"""

from __future__ import annotations

import os
from typing import Any

from flowyml import Pipeline, context, step


def break_here(step_name: str) -> None:
    """Fail on purpose while ``$DIGITS_BREAK`` names this step (to try ``flowyml resume``)."""
    if os.environ.get("DIGITS_BREAK") == step_name:
        raise RuntimeError(f"{step_name} broken on purpose (DIGITS_BREAK={step_name}); unset it and resume the run")


@step(outputs=["features", "labels"])
def load_digits() -> tuple[Any, Any]:
    """The 8x8 digits dataset that ships inside scikit-learn (no download)."""
    from sklearn.datasets import load_digits as sk_load_digits

    data = sk_load_digits()
    print(f"loaded {data.data.shape[0]} images of {data.data.shape[1]} pixels")
    return data.data / 16.0, data.target


@step(inputs=["features", "labels"], outputs=["train_set", "test_set"])
def split(features: Any, labels: Any, test_size: float = 0.25, seed: int = 0) -> tuple[dict, dict]:
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    print(f"train: {len(y_train)}  test: {len(y_test)}")
    return {"x": x_train, "y": y_train}, {"x": x_test, "y": y_test}


@step(inputs=["train_set"], outputs=["model"], execution_group="modelling", resources={"cpu": "2", "memory": "2Gi"})
def train(train_set: dict, C: float = 1.0, max_iter: int = 500) -> Any:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, max_iter=max_iter)
    model.fit(train_set["x"], train_set["y"])
    print(f"trained logistic regression with C={C}")
    return model


@step(inputs=["model", "test_set"], outputs=["metrics"], execution_group="modelling")
def evaluate(model: Any, test_set: dict) -> dict[str, float]:
    break_here("evaluate")
    accuracy = float(model.score(test_set["x"], test_set["y"]))
    print(f"test accuracy: {accuracy:.4f}")
    return {"accuracy": accuracy, "test_size": len(test_set["y"])}


def good_enough(accuracy: float, min_accuracy: float = 0.9) -> bool:
    """The register step runs only for a model that clears the bar (``accuracy`` comes from metrics)."""
    return accuracy >= min_accuracy


@step(inputs=["model", "metrics"], outputs=["registration"], condition=good_enough)
def register(model: Any, metrics: dict[str, float]) -> dict[str, Any]:
    registration = {"name": "digits-classifier", "accuracy": metrics["accuracy"], "classes": len(model.classes_)}
    print(f"registered {registration['name']} (accuracy {metrics['accuracy']:.3f})")
    return registration


pipeline = Pipeline("digits", context=context(C=1.0, test_size=0.25, seed=0, min_accuracy=0.9))
pipeline.add_step(load_digits).add_step(split).add_step(train).add_step(evaluate).add_step(register)


if __name__ == "__main__":
    result = pipeline.run()
    print(result)
    print("accuracy:", result["metrics"]["accuracy"], "registered:", result.outputs.get("registration"))
