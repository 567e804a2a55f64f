"""flowyml's benchmark suite: ``python -m bench`` from the repo root (``--smoke`` for a quick check).

Every case measures one of the targets of the issues on this machine, in one run, and reports
"not measured" with the reason when the code it needs is not installed.
"""
