"""Inference: reference planning, backends (PyTorch / ONNX Runtime), the streaming Colorizer."""
