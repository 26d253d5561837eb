"""fdikp: single-image defocus deblurring with Frequency-Driven Inverse Kernel Prediction.

The package is importable without torch being loaded: heavy modules import torch themselves.
"""

__version__ = "0.1.0"
