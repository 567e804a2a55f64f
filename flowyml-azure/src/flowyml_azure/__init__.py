"""flowyml on Azure ML: the ``azureml`` backend and Blob Storage artifacts.

Nothing here imports an Azure SDK: ``azure.ai.ml`` (about 2 s to import), ``azure.identity`` and
``azure.storage.blob`` load inside the functions that need them.
"""

__version__ = "3.0.0"
