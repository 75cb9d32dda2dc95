"""Serving a trained model: the MLflow pyfunc face generator and the ONNX export."""
