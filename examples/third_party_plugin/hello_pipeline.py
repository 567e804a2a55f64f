"""A two-unit pipeline to try the httpjobs backend with (see README.md and docs/plugins/tutorial.md)."""

from flowyml import Pipeline, context, step


@step(outputs=["numbers"])
def make_numbers(count: int = 5) -> list[int]:
    print(f"making {count} numbers")
    return list(range(count))


@step(inputs=["numbers"], outputs=["total"])
def add_up(numbers: list[int]) -> int:
    print(f"adding up {len(numbers)} numbers")
    return sum(numbers)


pipeline = Pipeline("hello-httpjobs", context=context(count=5), enable_cache=False)
pipeline.add_step(make_numbers).add_step(add_up)
