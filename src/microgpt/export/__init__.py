"""Export trained modules for other runtimes: ONNX (fp32, or int8 with an accuracy check)."""
