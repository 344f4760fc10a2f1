"""The micro tier: a pretrained transformer encoder fine-tuned end to end, optionally blended with a nano model.

`members` > 1 fine-tunes that many copies with different seeds and averages their logits (a seed ensemble).
Saved as `encoder/` (architecture config + tokenizer files) and `micro-<i>.safetensors` (all weights of member i,
head included), so a module is self-contained and loads offline without the backbone package.

A frozen sentence encoder as the backbone (`backbone="multilingual"`, see backbones/sentence.py) cannot be
fine-tuned: a head is trained on its vectors instead (labels/frozen.py), then calibrated and blended with nano
exactly like a fine-tuned encoder. Such a module saves only the head (`head.safetensors`) and needs the encoder's
package installed to load.

With a teacher (`fit(..., teacher=probabilities)`, see labels/distill.py) the encoder learns from the teacher's
softened probabilities as well as the gold labels (training/distill.py); dev calibration and the nano blend then
run exactly as without one, and `distill_` records how the teacher and the student did on the same dev split.
A backbone's third-party licence files (all-mpnet-base-v2's Apache-2.0 notice) are saved with the module.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from microgpt.backbones.encoder import EncoderHead, encoder_from_config, is_base_size, licence_texts, load_pretrained
from microgpt.backbones.sentence import embed, is_sentence_encoder, package_version, sentence_encoder
from microgpt.calibration import (
    best_threshold,
    calibration_summary,
    dev_split,
    fit_temperature,
    micro_f1,
    sigmoid,
    softmax,
    unknown_threshold,
)
from microgpt.config import MicroConfig, NanoConfig
from microgpt.labels.distill import check_teacher_proba, student_summary
from microgpt.labels.frozen import FrozenHead, train_head
from microgpt.labels.nano import NanoEngine
from microgpt.progress import Progress, no_progress
from microgpt.training.distill import distillation_loss, soften
from microgpt.training.loop import TrainArgs, cpu_has_bf16, encode, fine_tune, logits_by_length, predict_logits

log = logging.getLogger(__name__)


class MicroEngine:
    """Fine-tuned `EncoderHead` member(s) + tokenizer; probabilities optionally blended with a nano engine."""

    tier = "micro"

    def __init__(self, config: MicroConfig | None = None, seed: int = 0) -> None:
        self.config = config or MicroConfig()
        self.seed = seed
        self.multilabel = False
        self.models: list[EncoderHead] = []
        self.tokenizer: Any = None
        self.nano: NanoEngine | None = None
        self.blend_ = 0.0  # nano's weight in the blend, chosen on dev
        self.temperature_ = 1.0
        self.final_temperature_ = 1.0  # applied after the nano blend
        self.calibration_: dict[str, float] = {}  # ECE before/after calibration, on the dev split
        self.unknown_: dict[str, Any] = {}  # how unknown inputs are flagged: method and threshold (from dev)
        self.threshold_ = 0.5
        self.fit_result_: dict[str, Any] = {}
        self.sessions: list[Any] = []  # ONNX Runtime sessions, when the module was exported
        self.onnx_: dict[str, Any] | None = None
        self.head: FrozenHead | None = None  # a frozen sentence encoder's trained head (instead of `models`)
        self.encoder_: Any = None
        self.frozen_: dict[str, Any] | None = None
        self.distill_: dict[str, Any] | None = None  # the teacher, and teacher vs student on dev (when distilled)

    def _threads(self) -> None:
        if self.config.threads:
            torch.set_num_threads(self.config.threads)

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id or 0)

    # ---- training ------------------------------------------------------------------------------------------
    def fit(
        self,
        texts: list[str],
        targets: np.ndarray,
        multilabel: bool,
        progress: Progress = no_progress,
        *,
        teacher: np.ndarray | None = None,
        teacher_info: dict[str, Any] | None = None,
        teacher_seen: np.ndarray | None = None,
    ) -> MicroEngine:
        """`teacher`: a teacher's probabilities for every text (N, L), columns as the targets' (distillation);
        `teacher_seen`: per text, whether the teacher trained on it (to say whether its dev score is held out)."""
        cfg = self.config
        self._threads()
        self.multilabel = multilabel
        n_out = targets.shape[1] if multilabel else int(targets.max()) + 1
        train_idx, dev_idx = dev_split(targets, cfg.dev_fraction, self.seed, multilabel)
        tr_texts = [texts[i] for i in train_idx]
        dev_texts = [texts[i] for i in dev_idx]
        dev_y = targets[dev_idx]
        if teacher is not None:
            check_teacher_proba(teacher, targets, n_out, multilabel, cfg.backbone)
        if is_sentence_encoder(cfg.backbone):
            return self._fit_frozen(tr_texts, targets[train_idx], dev_texts, dev_y, progress)
        loss = None
        if teacher is not None:
            soft = torch.from_numpy(soften(teacher[train_idx], cfg.distill_temperature))  # (N_train, L), once
            gold = torch.from_numpy(targets[train_idx].astype(np.int64))

            def loss(logits: torch.Tensor, batch: list[int]) -> torch.Tensor:
                w, t, smoothing = cfg.distill_weight, cfg.distill_temperature, cfg.label_smoothing
                return distillation_loss(
                    logits.float(), soft[batch], gold[batch], weight=w, temperature=t, label_smoothing=smoothing
                )

        def dev_score(logits: np.ndarray) -> float:
            if multilabel:
                return micro_f1(sigmoid(logits) >= 0.5, dev_y)
            return float((logits.argmax(1) == dev_y).mean())

        self.models, runs = [], []
        for k in range(cfg.members):
            encoder, self.tokenizer = load_pretrained(cfg.backbone)
            model = EncoderHead(encoder, n_out, cfg.dropout)
            if cfg.freeze_embeddings:
                model.encoder.get_input_embeddings().weight.requires_grad_(False)  # type: ignore[operator]
            if k == 0:
                train_ids = encode(self.tokenizer, tr_texts, cfg.max_length)
                dev_ids = encode(self.tokenizer, dev_texts, cfg.max_length) if len(dev_idx) else None
            stage = "train" if cfg.members == 1 else f"train {k + 1}/{cfg.members}"
            # sigmoid heads learn slowly at classify rates; a 12-layer, 768-wide encoder wants about half the rate
            lr = cfg.lr or (3e-4 if multilabel else 1e-4) * (0.5 if is_base_size(cfg.backbone) else 1.0)
            args = TrainArgs(
                epochs=cfg.epochs,
                batch_size=cfg.batch_size,
                lr=lr,
                head_lr=cfg.head_lr or (1e-2 if multilabel else 2e-3),
                weight_decay=cfg.weight_decay,
                warmup_ratio=cfg.warmup_ratio,
                patience=cfg.patience,
                max_steps=cfg.max_steps,
                min_steps=cfg.min_steps,
                max_minutes=cfg.max_minutes / cfg.members if cfg.max_minutes else None,
                seed=self.seed + k,
                bf16=cpu_has_bf16() if cfg.bf16 is None else cfg.bf16,
            )
            result = fine_tune(
                model, train_ids, targets[train_idx], dev_ids, dev_score, args, pad_id=self.pad_id,
                multilabel=multilabel, label_smoothing=0.0 if multilabel else cfg.label_smoothing,
                progress=functools.partial(_relabel, progress, stage), loss=loss,
            )  # fmt: skip
            self.models.append(model)
            runs.append(
                {
                    "best_epoch": result.best_epoch,
                    "best_dev": result.best_dev,
                    "steps": result.steps,
                    "train_seconds": round(result.seconds, 1),
                    "stopped_because": result.stopped_because,
                    "history": result.history,
                }
            )
        self.fit_result_ = {"members": runs}
        if dev_ids:
            dev_logits = self._logits(dev_ids)
            if teacher is not None:
                seen = int(teacher_seen[dev_idx].sum()) if teacher_seen is not None else None
                self.distill_ = student_summary(teacher[dev_idx], dev_logits, dev_y, teacher_info, seen, cfg)
            self._calibrate(tr_texts, targets[train_idx], dev_texts, dev_logits, dev_y, progress)
        elif teacher is not None:
            self.distill_ = student_summary(teacher[:0], np.zeros((0, n_out)), dev_y, teacher_info, None, cfg)
        return self

    def _fit_frozen(
        self, tr_texts: list[str], tr_y: np.ndarray, dev_texts: list[str], dev_y: np.ndarray, progress: Progress
    ) -> MicroEngine:
        cfg = self.config
        self.encoder_ = sentence_encoder(cfg.backbone, cfg.threads)
        self.frozen_ = {"encoder": self.encoder_.name, "version": package_version(cfg.backbone)}
        train_x = embed(self.encoder_, tr_texts, progress=progress)
        dev_x = embed(self.encoder_, dev_texts, progress=progress)
        self.head, summary = train_head(train_x, tr_y, multilabel=self.multilabel, dev=(dev_x, dev_y),
                                        seed=self.seed, max_minutes=cfg.max_minutes, progress=progress)  # fmt: skip
        self.fit_result_ = {"frozen_head": summary}
        if len(dev_y):
            self._calibrate(tr_texts, tr_y, dev_texts, self.head.logits(dev_x), dev_y, progress)
        return self

    def _calibrate(
        self,
        tr_texts: list[str],
        tr_y: np.ndarray,
        dev_texts: list[str],
        logits: np.ndarray,
        dev_y: np.ndarray,
        progress: Progress,
    ) -> None:
        """Fit the temperature (or threshold) on dev `logits`; choose the nano blend weight best on the dev score."""
        if self.multilabel:
            micro_p = sigmoid(logits)
        else:
            # A temperature fitted on a few dozen texts the model gets all right collapses towards 0 and turns every
            # answer into "100%"; below 50 dev texts keep T = 1 (label smoothing already tempers the logits).
            self.temperature_ = fit_temperature(logits, dev_y) if len(dev_y) >= 50 else 1.0
            micro_p = softmax(logits / self.temperature_)
        if self.config.ensemble_nano:
            progress("nano", 0, 1)
            nano = NanoEngine(NanoConfig(), seed=self.seed).fit(tr_texts, tr_y, self.multilabel)
            nano_p = nano.predict_proba(dev_texts)
            best_w, best = 0.0, -1.0
            for w in np.arange(0.0, 0.61, 0.05):
                p = (1 - w) * micro_p + w * nano_p
                if self.multilabel:
                    score = micro_f1(p >= best_threshold(p, dev_y), dev_y)
                else:
                    score = float((p.argmax(1) == dev_y).mean())
                if score > best + 1e-9:
                    best_w, best = float(w), score
            self.blend_ = round(best_w, 2)
            self.nano = nano if self.blend_ > 0 else None  # no gain on dev: keep the module small and fast
            if self.nano is not None:
                micro_p = (1 - self.blend_) * micro_p + self.blend_ * nano_p
            progress("nano", 1, 1)
        if self.multilabel:
            self.threshold_ = best_threshold(micro_p, dev_y)
        else:
            # The blend of two calibrated models is not calibrated itself: one more temperature, on its log-probs.
            if self.nano is not None and len(dev_y) >= 50:
                self.final_temperature_ = fit_temperature(np.log(micro_p + 1e-12), dev_y)
                micro_p = softmax(np.log(micro_p + 1e-12) / self.final_temperature_)
            self.calibration_ = {
                **calibration_summary(softmax(logits), micro_p, dev_y, self.temperature_),
                "final_temperature": self.final_temperature_,
            }
            self.unknown_ = {"method": "msp", "threshold": unknown_threshold(1 - micro_p.max(1))}

    # ---- prediction ----------------------------------------------------------------------------------------
    def _logits(self, ids: list[list[int]]) -> np.ndarray:
        """Member logits averaged: (N, L) — through ONNX Runtime when the module carries exported graphs."""
        if self.sessions:
            return np.mean([logits_by_length(_ort_runner(s), ids, self.pad_id) for s in self.sessions], axis=0)
        return np.mean([predict_logits(m, ids, self.pad_id, batch_size=64) for m in self.models], axis=0)

    def attach_onnx(self, graphs: list[str]) -> None:
        """Predict through these ONNX graphs (one per member) from now on."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        # Idle ORT threads otherwise spin for a while after each call, stealing a small server's other core.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if self.config.threads:
            options.intra_op_num_threads = self.config.threads
        self.sessions = [ort.InferenceSession(g, options, providers=["CPUExecutionProvider"]) for g in graphs]

    def detach_onnx(self) -> None:
        self.sessions = []

    def _text_logits(self, texts: list[str]) -> np.ndarray:
        if self.head is not None:
            return self.head.logits(embed(self.encoder_, texts))
        return self._logits(encode(self.tokenizer, texts, self.config.max_length))

    def predict_proba(self, texts: list[str], calibrated: bool = True) -> np.ndarray:
        logits = self._text_logits(texts)
        if self.multilabel:
            p = sigmoid(logits)
        else:
            p = softmax(logits / (self.temperature_ if calibrated else 1.0))
        if self.nano is not None and self.blend_ > 0:
            p = (1 - self.blend_) * p + self.blend_ * self.nano.predict_proba(texts, calibrated=calibrated)
            if calibrated and not self.multilabel and self.final_temperature_ != 1.0:
                p = softmax(np.log(p + 1e-12) / self.final_temperature_)
        return p

    def unknown_scores(self, texts: list[str]) -> np.ndarray:
        """Higher = less like anything in training: 1 - the top calibrated probability."""
        return np.asarray(1.0 - self.predict_proba(texts).max(1))

    # ---- persistence ---------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        if self.head is not None:
            save_file(
                {k: v.contiguous() for k, v in self.head.state_dict().items()}, str(directory / "head.safetensors")
            )
            self._save_common(directory)
            return
        enc_dir = directory / "encoder"
        enc_dir.mkdir()
        self.models[0].encoder.config.save_pretrained(enc_dir)  # type: ignore[union-attr,operator]
        self.tokenizer.save_pretrained(enc_dir)
        for name, text in licence_texts(self.config.backbone).items():  # fine-tuned weights are derivative works
            (enc_dir / name).write_bytes(text)
        for i, model in enumerate(self.models):
            state = {k: v.contiguous() for k, v in model.state_dict().items()}
            save_file(state, str(directory / f"micro-{i}.safetensors"))
        self._save_common(directory)

    def _save_common(self, directory: Path) -> None:
        if self.nano is not None:
            (directory / "nano").mkdir()
            self.nano.save(directory / "nano")
        (directory / "micro.json").write_text(json.dumps(self.describe(), indent=1))

    @classmethod
    def load(cls, directory: Path) -> MicroEngine:
        meta = json.loads((directory / "micro.json").read_text())
        engine = cls(MicroConfig(**meta["config"]))
        engine._threads()
        if meta.get("frozen"):
            engine._load_frozen(directory, meta["frozen"])
        for i in range(int(meta["n_members"])):
            encoder, engine.tokenizer = encoder_from_config(directory / "encoder")
            state = load_file(str(directory / f"micro-{i}.safetensors"))
            model = EncoderHead(encoder, int(state["head.weight"].shape[0]), engine.config.dropout)
            model.load_state_dict(state)
            engine.models.append(model.eval())
        engine.multilabel = bool(meta["multilabel"])
        engine.temperature_ = float(meta["temperature"])
        engine.threshold_ = float(meta["threshold"])
        engine.blend_ = float(meta["blend"])
        engine.final_temperature_ = float(meta.get("final_temperature", 1.0))
        engine.calibration_ = meta.get("calibration", {})
        engine.unknown_ = meta.get("unknown", {})
        engine.distill_ = meta.get("distill")
        if (directory / "nano").is_dir():
            engine.nano = NanoEngine.load(directory / "nano")
        engine.onnx_ = meta.get("onnx")
        if engine.onnx_:
            engine.attach_onnx([str(directory / f) for f in engine.onnx_["files"]])
        return engine

    def _load_frozen(self, directory: Path, frozen: dict[str, Any]) -> None:
        self.encoder_ = sentence_encoder(frozen["encoder"], self.config.threads)
        now = package_version(frozen["encoder"])
        if frozen.get("version") and now != frozen["version"]:
            log.warning("module trained with %s %s, loaded with %s", frozen["encoder"], frozen["version"], now)
        state = load_file(str(directory / "head.safetensors"))
        dim, n_out = state["net.1.weight"].shape[1], state["net.4.weight"].shape[0]
        self.head = FrozenHead(dim, n_out, hidden=state["net.1.weight"].shape[0])
        self.head.load_state_dict(state)
        self.frozen_ = frozen

    def describe(self) -> dict[str, Any]:
        return {
            "config": self.config.model_dump(mode="json"),
            **({"frozen": self.frozen_} if self.frozen_ else {}),
            "multilabel": self.multilabel,
            "n_members": len(self.models),
            "temperature": self.temperature_,
            "threshold": self.threshold_,
            "blend": self.blend_,
            "final_temperature": self.final_temperature_,
            "calibration": self.calibration_,
            "unknown": self.unknown_,
            "fit": self.fit_result_,
            **({"onnx": self.onnx_} if self.onnx_ else {}),
            **({"distill": self.distill_} if self.distill_ else {}),
        }


def _relabel(progress: Progress, stage: str, _: str, done: int, total: int) -> None:
    """Report a member's training steps under its own stage name ("train 2/3")."""
    progress(stage, done, total)


def _ort_runner(session: Any) -> Any:
    """(input_ids, mask) tensors → logits array, through an ONNX Runtime session."""

    def run(input_ids: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
        return session.run(None, {"input_ids": input_ids.numpy(), "attention_mask": mask.numpy()})[0]

    return run
