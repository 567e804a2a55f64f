"""flowyml on Ray: the ``ray`` backend (one Ray Job per run, one Ray task per execution unit).

Importing this package loads no Ray module; ``ray`` is imported by the modules that talk to the
cluster (``submit``, ``logs``) and by the driver that runs inside the Ray Job.
"""

__version__ = "3.0.0"
