"""Training loops: fine-tuning a pretrained encoder with dynamic padding, warmup, decay and early stopping."""
