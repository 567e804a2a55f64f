"""flowyml-httpjobs: a worked third-party flowyml backend (``backend``) and the job server it talks to (``server``)."""

__version__ = "0.1.0"
