"""flowyml on AWS: ``aws_batch`` and ``sagemaker`` backends and ``s3://`` artifacts (boto3 only).

Importing this package loads no AWS SDK; boto3 is imported by the modules that make calls.
"""

__version__ = "3.0.0"
