"""The micro tier: a pretrained transformer encoder fine-tuned end to end, optionally blended with a nano model.

Saved as `encoder/` (architecture config + tokenizer files) and `micro.safetensors` (all weights, head included),
so a module is self-contained and loads offline without the backbone package.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from microgpt.backbones.encoder import EncoderHead, encoder_from_config, load_pretrained
from microgpt.config import MicroConfig, NanoConfig
from microgpt.data.records import Dataset
from microgpt.data.splits import train_test_split
from microgpt.progress import Progress, no_progress
from microgpt.tiers.calibrate import best_threshold, fit_temperature, sigmoid, softmax
from microgpt.tiers.nano import NanoEngine
from microgpt.training.loop import FitResult, encode, fine_tune, predict_logits

log = logging.getLogger(__name__)


class MicroEngine:
    """`EncoderHead` + tokenizer; probabilities optionally blended with a nano engine (`blend_` = nano's weight)."""

    tier = "micro"

    def __init__(self, config: MicroConfig | None = None, seed: int = 0) -> None:
        self.config = config or MicroConfig()
        self.seed = seed
        self.multilabel = False
        self.model: EncoderHead | None = None
        self.tokenizer: Any = None
        self.nano: NanoEngine | None = None
        self.blend_ = 0.0
        self.temperature_ = 1.0
        self.threshold_ = 0.5
        self.fit_result_: dict[str, Any] = {}

    def _threads(self) -> None:
        if self.config.threads:
            torch.set_num_threads(self.config.threads)

    # ---- training ------------------------------------------------------------------------------------------
    def fit(
        self, texts: list[str], targets: np.ndarray, multilabel: bool, progress: Progress = no_progress
    ) -> MicroEngine:
        cfg = self.config
        self._threads()
        self.multilabel = multilabel
        n_out = targets.shape[1] if multilabel else int(targets.max()) + 1
        encoder, self.tokenizer = load_pretrained(cfg.backbone)
        self.model = EncoderHead(encoder, n_out, cfg.dropout)
        self.backbone_name_ = cfg.backbone
        train_idx, dev_idx = self._dev_split(texts, targets)
        tr_texts = [texts[i] for i in train_idx]
        dev_texts = [texts[i] for i in dev_idx]
        train_ids = encode(self.tokenizer, tr_texts, cfg.max_length)
        dev_ids = encode(self.tokenizer, dev_texts, cfg.max_length) if len(dev_idx) else None
        dev_y = targets[dev_idx]

        def dev_score(logits: np.ndarray) -> float:
            if multilabel:
                pred = sigmoid(logits) >= 0.5
                tp = float((pred & (dev_y > 0)).sum())
                return 2 * tp / max(1.0, 2 * tp + float((pred != (dev_y > 0)).sum()))
            return float((logits.argmax(1) == dev_y).mean())

        result: FitResult = fine_tune(
            self.model,
            train_ids,
            targets[train_idx],
            dev_ids,
            dev_score,
            pad_id=int(self.tokenizer.pad_token_id or 0),
            multilabel=multilabel,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            head_lr=cfg.head_lr,
            weight_decay=cfg.weight_decay,
            warmup_ratio=cfg.warmup_ratio,
            label_smoothing=0.0 if multilabel else cfg.label_smoothing,
            patience=cfg.patience,
            max_steps=cfg.max_steps,
            max_minutes=cfg.max_minutes,
            seed=self.seed,
            progress=progress,
        )
        self.fit_result_ = {
            "best_epoch": result.best_epoch,
            "best_dev": result.best_dev,
            "steps": result.steps,
            "train_seconds": round(result.seconds, 1),
            "stopped_because": result.stopped_because,
            "history": result.history,
        }
        if dev_ids:
            self._calibrate(tr_texts, targets[train_idx], dev_texts, dev_ids, dev_y, progress)
        return self

    def _dev_split(self, texts: list[str], targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.multilabel:
            order = np.random.default_rng(self.seed).permutation(len(texts))
            n_dev = max(1, int(len(texts) * self.config.dev_fraction)) if len(texts) >= 10 else 0
            return np.sort(order[n_dev:]), np.sort(order[:n_dev])
        data = Dataset.from_lists([str(i) for i in range(len(texts))], [str(int(t)) for t in targets])
        train, dev = train_test_split(data, self.config.dev_fraction, seed=self.seed)
        return np.array([int(e.text) for e in train]), np.array([int(e.text) for e in dev], dtype=np.int64)

    def _calibrate(
        self,
        tr_texts: list[str],
        tr_y: np.ndarray,
        dev_texts: list[str],
        dev_ids: list[list[int]],
        dev_y: np.ndarray,
        progress: Progress,
    ) -> None:
        """Fit the temperature (or threshold) on dev; choose the nano blend weight that maximises dev accuracy."""
        assert self.model is not None
        logits = predict_logits(self.model, dev_ids, int(self.tokenizer.pad_token_id or 0))
        if self.multilabel:
            micro_p = sigmoid(logits)
        else:
            self.temperature_ = fit_temperature(logits, dev_y)
            micro_p = softmax(logits / self.temperature_)
        if self.config.ensemble_nano:
            progress("nano", 0, 1)
            self.nano = NanoEngine(NanoConfig(), seed=self.seed).fit(tr_texts, tr_y, self.multilabel)
            nano_p = self.nano.predict_proba(dev_texts)
            best_w, best = 0.0, -1.0
            for w in np.arange(0.0, 0.61, 0.05):
                p = (1 - w) * micro_p + w * nano_p
                if self.multilabel:
                    t = best_threshold(p, dev_y)
                    pred = p >= t
                    tp = float((pred & (dev_y > 0)).sum())
                    score = 2 * tp / max(1.0, 2 * tp + float((pred != (dev_y > 0)).sum()))
                else:
                    score = float((p.argmax(1) == dev_y).mean())
                if score > best + 1e-9:
                    best_w, best = float(w), score
            self.blend_ = best_w
            if best_w == 0.0:
                self.nano = None  # no gain on dev: keep the module small and fast
            progress("nano", 1, 1)
            micro_p = (1 - self.blend_) * micro_p + (self.blend_ * nano_p if self.nano else 0)
        if self.multilabel:
            self.threshold_ = best_threshold(micro_p, dev_y)

    # ---- prediction ----------------------------------------------------------------------------------------
    def predict_proba(self, texts: list[str]) -> np.ndarray:
        assert self.model is not None
        ids = encode(self.tokenizer, texts, self.config.max_length)
        logits = predict_logits(self.model, ids, int(self.tokenizer.pad_token_id or 0), batch_size=64)
        p = sigmoid(logits) if self.multilabel else softmax(logits / self.temperature_)
        if self.nano is not None and self.blend_ > 0:
            p = (1 - self.blend_) * p + self.blend_ * self.nano.predict_proba(texts)
        return p

    # ---- persistence ---------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        assert self.model is not None
        enc_dir = directory / "encoder"
        enc_dir.mkdir()
        self.model.encoder.config.save_pretrained(enc_dir)  # type: ignore[union-attr]
        self.tokenizer.save_pretrained(enc_dir)
        state = {k: v.contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(directory / "micro.safetensors"))
        if self.nano is not None:
            (directory / "nano").mkdir()
            self.nano.save(directory / "nano")
        (directory / "micro.json").write_text(json.dumps(self.describe(), indent=1))

    @classmethod
    def load(cls, directory: Path) -> MicroEngine:
        meta = json.loads((directory / "micro.json").read_text())
        engine = cls(MicroConfig(**meta["config"]))
        engine._threads()
        encoder, engine.tokenizer = encoder_from_config(directory / "encoder")
        state = load_file(str(directory / "micro.safetensors"))
        engine.model = EncoderHead(encoder, int(state["head.weight"].shape[0]), engine.config.dropout)
        engine.model.load_state_dict(state)
        engine.model.eval()
        engine.multilabel = bool(meta["multilabel"])
        engine.temperature_ = float(meta["temperature"])
        engine.threshold_ = float(meta["threshold"])
        engine.blend_ = float(meta["blend"])
        if (directory / "nano").is_dir():
            engine.nano = NanoEngine.load(directory / "nano")
        return engine

    def describe(self) -> dict[str, Any]:
        return {
            "config": self.config.model_dump(mode="json"),
            "multilabel": self.multilabel,
            "temperature": self.temperature_,
            "threshold": self.threshold_,
            "blend": self.blend_,
            "fit": self.fit_result_,
        }
