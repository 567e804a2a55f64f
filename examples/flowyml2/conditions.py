"""Conditional steps written the FlowyML 2.x way: ``@step(condition=lambda <name>: ...)``.

A condition's parameters come from the context, from the outputs so far and from the keys of dict
outputs (``spam_ratio`` is a key of ``tickets/labelled``). A step whose condition is false is
skipped, and so is every step that needs its outputs.

    python examples/flowyml2/conditions.py
"""

from flowyml import Pipeline, context, step

settings = context(translate=False, escalate_above=3)


@step(outputs=["tickets/raw"])
def pull_tickets():
    return {"tickets": ["printer on fire", "WIN A PRIZE", "vpn down", "vpn down again", "login loop"]}


@step(inputs=["tickets/raw"], outputs=["tickets/labelled"])
def label(batch):
    spam = [t for t in batch["tickets"] if t.isupper()]
    kept = [t for t in batch["tickets"] if t not in spam]
    return {"tickets": kept, "spam_ratio": len(spam) / len(batch["tickets"])}


@step(inputs=["tickets/labelled"], outputs=["report/spam"], condition=lambda spam_ratio: spam_ratio > 0.5)
def spam_report(labelled):
    return f"{labelled['spam_ratio']:.0%} of the tickets are spam"


@step(inputs=["tickets/labelled"], outputs=["tickets/translated"], condition=lambda translate: translate)
def translate_tickets(labelled):
    return [f"[en] {t}" for t in labelled["tickets"]]


@step(inputs=["tickets/translated"], outputs=["report/translated"])
def translated_report(translated):
    return "\n".join(translated)


@step(
    inputs=["tickets/labelled"],
    outputs=["queue/escalated"],
    condition=lambda tickets, escalate_above: len(tickets) > escalate_above,
)
def escalate(labelled):
    return sorted(labelled["tickets"])[:2]


pipeline = Pipeline("ticket_triage", context=settings, enable_cache=False)
for s in (pull_tickets, label, spam_report, translate_tickets, translated_report, escalate):
    pipeline.add_step(s)

if __name__ == "__main__":
    result = pipeline.run(debug=True)
    assert result.success
    skipped = [name for name, r in result.step_results.items() if r.skipped]
    print("skipped:", ", ".join(skipped))
    print("escalated:", result["queue/escalated"])
    assert skipped == ["spam_report", "translate_tickets", "translated_report"]
    assert result["queue/escalated"] == ["login loop", "printer on fire"]
    assert result["report/spam"] is None and "report/spam" not in result
