"""S3 and SageMaker: run the DVC pipeline as a SageMaker training job (see sagemaker.py)."""
