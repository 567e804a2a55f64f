"""One module per benchmark case; each exposes ``run(settings) -> CaseResult``."""
