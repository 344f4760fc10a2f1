"""Tasks: what a model does — `Classifier` (one label per text) and `Tagger` (any number of labels per text)."""
