"""Tiers: the size/speed trade-off behind one task API — `nano` (n-grams + linear), `micro` (fine-tuned encoder).

Every tier engine maps texts to probabilities over the task's label columns:
- `fit(texts, targets, multilabel, progress)` — targets are class indices, or a multi-hot matrix when multilabel;
- `predict_proba(texts)` → (N, L) float array; softmax rows for single-label, independent sigmoids for multilabel;
- `save(directory)` / `load(directory, meta)`; `describe()` → a JSON-able summary for microgpt.json.
"""
