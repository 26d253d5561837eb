"""Inference: running the model on images of any size (device, precision, tiling)."""
