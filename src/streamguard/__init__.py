"""StreamGuard: train and evaluate detectors of vulnerable C functions."""

__version__ = "0.1.0"
