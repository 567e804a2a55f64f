"""Names that become file names, keys or job names are checked where they are defined (issue: run integrity)."""

from __future__ import annotations

import pytest

from flowyml import Pipeline, step
from flowyml.core.names import InvalidNameError
from flowyml.core.step import Step
from flowyml.orchestrators.layout import RunLayout, encode_name
from flowyml.stacks.local import LocalOrchestrator

HOSTILE = ["../../x", "/abs/path", "a/b", "$(touch pwned)", "nul\x00byte", "x" * 251, "é" * 126, "..", "", "sp ace"]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_step_or_group_name_is_refused_when_the_step_is_defined(name: str):
    with pytest.raises(InvalidNameError, match="invalid step name"):
        Step(lambda: 1, name=name)
    with pytest.raises(InvalidNameError, match="invalid execution group"):
        Step(lambda: 1, name="ok", execution_group=name)


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_pipeline_name_or_run_id_is_refused_before_anything_runs(name: str, tmp_path):
    with pytest.raises(InvalidNameError, match="invalid pipeline name"):
        Pipeline(name)
    ran = []

    @step(outputs=["x"])
    def probe():
        ran.append(1)
        return 1

    pipeline = Pipeline("names").add_step(probe)
    with pytest.raises(InvalidNameError, match="invalid run id"):
        pipeline.run(run_id=name)
    with pytest.raises(InvalidNameError, match="invalid run id"):
        LocalOrchestrator(artifact_store=(tmp_path / "arts").as_uri()).run_pipeline(pipeline, run_id=name)
    assert not ran and not (tmp_path / "arts").exists()  # nothing ran, nothing was written


def test_the_rule_allows_ordinary_names():
    for name in ["train", "train_model", "v1.2", "my-pipeline", "Étape_1", "x" * 250]:
        assert Step(lambda: 1, name=name).name == name


@pytest.mark.parametrize("output", ["data/raw", "models/v1", "a b", "é"])
def test_asset_path_output_names_stay_one_key_component(output: str):
    key = RunLayout("r1").output("step", output)
    assert key.count("/") == 4 and key.startswith("runs/r1/outputs/step/")
    assert encode_name(output) != encode_name(output + "/")


@pytest.mark.parametrize("output", ["../x", "/abs", "a/../b", "a/./b", "nul\x00"])
def test_output_names_that_could_escape_are_refused(output: str):
    from flowyml.core.errors import ArtifactError

    with pytest.raises(ArtifactError, match="invalid output name"):
        RunLayout("r1").output("step", output)
