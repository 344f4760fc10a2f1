"""Backbones turn text into features: sparse n-grams (nano) or a pretrained transformer encoder (micro)."""
