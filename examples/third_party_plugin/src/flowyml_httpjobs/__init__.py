"""flowyml-httpjobs: a worked third-party flowyml backend that runs pipelines on an HTTP job queue.

``plugin`` holds the hook implementations (the entry point), ``config`` the settings,
``states`` the one native-state table, ``client`` the HTTP calls and what counts as transient,
``submit`` / ``runs`` / ``logs`` the operations, ``orchestrators`` the Python facade and
``server`` the job-queue server itself.
"""

__version__ = "0.1.0"
