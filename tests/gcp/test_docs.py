"""docs/backends/gcp.md: its stacks load as written, and the figures it quotes match the code."""

from __future__ import annotations

import re

from tests.gcp.conftest import REPO

PAGE = REPO / "docs/backends/gcp.md"


def test_the_stacks_on_the_page_load(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import yaml

    from flowyml.config.loader import parse_config
    from flowyml_gcp.config import VertexAIConfig

    monkeypatch.setenv("WANDB_API_KEY", "k")  # the page's ${WANDB_API_KEY}
    blocks = re.findall(r"^```yaml\n(.*?)^```\s*$", PAGE.read_text(), re.M | re.S)
    assert len(blocks) >= 2
    for block in blocks:
        config = parse_config(yaml.safe_load(block), str(PAGE))
        stacks = [name for name, stack in config.stacks.items() if stack.backend == "vertex_ai"]
        assert stacks
        for name in stacks:
            assert isinstance(config.orchestrator(name).config, VertexAIConfig)


def test_the_page_quotes_the_codes_numbers() -> None:
    from flowyml_gcp import jobs, logs, machine
    from flowyml_gcp.config import VertexAIConfig

    text = " ".join(PAGE.read_text().split())
    assert f"{logs.JOBS_PER_FILTER} job ids per filter" in text
    assert f"one `pipelineJobs` list per {jobs.LIST_PAGE_SIZE} runs" in text
    assert f"{machine.PIPELINE_TASK_DISK_GB} GB boot disk" in text
    default = VertexAIConfig()
    assert f"default `log_poll_interval` is {default.log_poll_interval:g} s" in text
    assert f"`log_poll_interval` / `log_settle_seconds` | {default.log_poll_interval:g} / " in text
