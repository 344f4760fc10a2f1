"""One training loop for every model we train: the encoder fine-tunes (label and token heads) and tinygpt.

    result = train_loop(model, lengths, batch_loss, TrainArgs(epochs=3, batch_size=32, lr=1e-4), dev_eval=score)
    result = fine_tune(model, ids, targets, dev_ids, dev_score, args, pad_id=0)   # an encoder head on token ids

`TrainArgs` holds the settings (one dataclass, every default says why); the loop owns what they share: AdamW with
decay on matrices only, linear warm-up then a linear or cosine decay, one time-budget rule, gradient clipping,
bf16 autocast, length-grouped batches, a dev score per epoch, early stopping and keeping the best epoch.

The time-budget rule: the schedule runs on the fraction of the run done, `max(step / steps, elapsed / budget)`,
so with `max_minutes` the learning rate decays to its floor exactly at the deadline instead of being cut off.
Texts are tokenized once; each batch is padded only to its own longest text, and batches are built from
length-sorted chunks, so short support messages cost a fraction of a fixed-length pad (≈3x faster on Banking77).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn

from microgpt.progress import Progress, no_progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainArgs:
    """The settings of one training run."""

    epochs: float
    batch_size: int
    lr: float  # peak rate of the body (every parameter not named head.*)
    head_lr: float | None = None  # a separate peak rate for head.* (a fresh head learns faster); None = lr
    weight_decay: float = 0.01  # on matrices only: biases, norms (1-D parameters) and the head never decay
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_ratio: float = 0.0  # share of the planned steps spent warming up ...
    warmup_steps: int = 0  # ... or a fixed number (the larger wins)
    schedule: Literal["linear", "cosine"] = "linear"  # after warm-up: linear to 0, or cosine to lr * min_lr_ratio
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0
    patience: int | None = None  # epochs without dev gain before stopping (second half only); None = never stop
    keep_best: bool = True  # with a dev score: end with the weights of the best epoch
    min_steps: int = 0  # small data gets more epochs
    max_steps: int | None = None  # cap for smoke tests and quick experiments
    max_minutes: float | None = None  # wall-clock budget (the schedule is fitted to it)
    bf16: bool = False  # bfloat16 autocast (≈2x faster where the CPU has native bf16)
    seed: int = 0


@dataclass
class FitResult:
    best_epoch: int = 0
    best_dev: float = float("nan")
    steps: int = 0
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_because: str = ""


def cpu_has_bf16() -> bool:
    """True where the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); elsewhere bf16 autocast is slower."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def encode(tokenizer: object, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids per text, truncated to `max_length` (special tokens included), unpadded."""
    out = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)  # type: ignore[operator]
    return list(out["input_ids"])


def pad_batch(ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(ids), width), dtype=torch.long)  # (B, T)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        mask[i, : len(x)] = 1
    return input_ids, mask


def length_grouped_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffle, sort by length inside chunks of 50 batches, cut into batches, shuffle the batch order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lengths.__getitem__)
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


@torch.no_grad()
def predict_logits(model: nn.Module, ids: list[list[int]], pad_id: int, batch_size: int = 64) -> np.ndarray:
    """Logits for pre-tokenized texts from a PyTorch model; rows come back in the input order."""
    model.eval()
    return logits_by_length(lambda input_ids, mask: model(input_ids, mask).float().numpy(), ids, pad_id, batch_size)


def logits_by_length(
    run: Callable[[torch.Tensor, torch.Tensor], np.ndarray], ids: list[list[int]], pad_id: int, batch_size: int = 64
) -> np.ndarray:
    """`run(input_ids, mask)` over batches of similar length (little padding); (N, L) rows in the input order."""
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out: np.ndarray | None = None
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        input_ids, mask = pad_batch([ids[i] for i in chunk], pad_id)
        logits = run(input_ids, mask)  # (B, L)
        if out is None:
            out = np.zeros((len(ids), logits.shape[1]), dtype=np.float32)
        out[chunk] = logits
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def param_groups(model: nn.Module, args: TrainArgs) -> list[dict[str, object]]:
    """AdamW groups: matrices decay, 1-D parameters (biases, norms) do not; head.* at `head_lr` (no decay) if set."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    is_head = (lambda n: n.startswith("head.")) if args.head_lr is not None else (lambda n: False)
    body = [(n, p) for n, p in named if not is_head(n)]
    groups: list[dict[str, object]] = [
        {"params": [p for _, p in body if p.dim() >= 2], "lr": args.lr, "weight_decay": args.weight_decay},
        {"params": [p for _, p in body if p.dim() < 2], "lr": args.lr, "weight_decay": 0.0},
    ]
    head = [p for n, p in named if is_head(n)]
    if head:
        groups.append({"params": head, "lr": args.head_lr, "weight_decay": 0.0})
    return groups


def lr_factor(args: TrainArgs, step: int, frac: float, total: int) -> float:
    """The learning rate as a share of the peak: warm-up by step, then decay by the fraction of the run done."""
    warmup = max(args.warmup_steps, int(total * args.warmup_ratio))
    if step < warmup:
        return (step + 1) / max(1, warmup)
    done = min(1.0, max(0.0, (frac * total - warmup) / max(1, total - warmup)))  # 0 → 1 over the decay part
    if args.schedule == "cosine":
        return args.min_lr_ratio + 0.5 * (1 - args.min_lr_ratio) * (1 + math.cos(math.pi * done))
    return max(0.0, 1.0 - done)


def train_loop(
    model: nn.Module,
    lengths: Sequence[int],
    batch_loss: Callable[[list[int], random.Random], torch.Tensor],
    args: TrainArgs,
    *,
    dev_eval: Callable[[], float] | None = None,
    progress: Progress = no_progress,
) -> FitResult:
    """Train `model` in place on examples of the given `lengths`; `batch_loss(batch_indices, rng)` runs the forward
    pass and returns the loss (inside bf16 autocast when on). At the end the model holds the best dev epoch's
    weights (`keep_best`, with `dev_eval`, a score to maximise), else the last."""
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    steps_per_epoch = math.ceil(len(lengths) / args.batch_size)
    total = max(1, math.ceil(steps_per_epoch * args.epochs), args.min_steps)
    if args.max_steps is not None:
        total = min(total, args.max_steps)
    budget = args.max_minutes * 60 if args.max_minutes else math.inf
    groups = param_groups(model, args)
    peaks = [float(g["lr"]) for g in groups]  # type: ignore[arg-type]
    optimizer = torch.optim.AdamW(groups, betas=args.betas)  # type: ignore[arg-type]
    trainable = [p for p in model.parameters() if p.requires_grad]

    result = FitResult()
    best_state: dict[str, torch.Tensor] | None = None
    best, bad_epochs, step, epoch, lr = -math.inf, 0, 0, 0, args.lr
    start = time.perf_counter()
    out_of_time = False
    while step < total and not out_of_time:
        epoch += 1
        model.train()
        running, seen = 0.0, 0
        for batch in length_grouped_batches(lengths, args.batch_size, rng):
            frac = max(step / total, (time.perf_counter() - start) / budget)
            if frac >= 1.0:
                out_of_time = step < total
                break
            factor = lr_factor(args, step, frac, total)
            for group, peak in zip(optimizer.param_groups, peaks, strict=True):
                group["lr"] = peak * factor
            lr = args.lr * factor
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                loss = batch_loss(batch, rng)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, args.grad_clip)
            optimizer.step()
            step += 1
            running += loss.item() * len(batch)
            seen += len(batch)
            progress("train", step, total)
            if step >= total:
                break
        record = {"epoch": round(step / steps_per_epoch, 2), "step": float(step), "loss": running / max(1, seen),
                  "lr": lr}  # fmt: skip
        if dev_eval is not None:
            record["dev"] = dev_eval()
            model.train()
            if record["dev"] > best:
                best, bad_epochs = record["dev"], 0
                result.best_epoch = epoch
                if args.keep_best:
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad_epochs += 1
        result.history.append(record)
        log.info("epoch %d: %s", epoch, record)
        out_of_time = out_of_time or time.perf_counter() - start >= budget
        # Early stopping only in the second half: before that the lr is still high and dev scores are noisy.
        if args.patience is not None and bad_epochs >= args.patience and step >= total / 2:
            result.stopped_because = f"no dev improvement for {args.patience} epoch(s)"
            break
    if not result.stopped_because:
        if out_of_time:
            result.stopped_because = f"time budget of {args.max_minutes} min (lr schedule fitted to it)"
        elif args.max_steps is not None and step >= args.max_steps:
            result.stopped_because = "step budget reached"
        else:
            result.stopped_because = "all epochs done"
    progress("train", step, step)  # close the bar where training actually stopped
    if best_state is not None:
        model.load_state_dict(best_state)
        result.best_dev = best
    elif dev_eval is None or not args.keep_best:
        result.best_epoch = epoch
    result.steps = step
    result.seconds = time.perf_counter() - start
    model.eval()
    return result


def fine_tune(
    model: nn.Module,
    train_ids: list[list[int]],
    targets: np.ndarray,
    dev_ids: list[list[int]] | None,
    dev_score: Callable[[np.ndarray], float] | None,
    args: TrainArgs,
    *,
    pad_id: int,
    multilabel: bool = False,
    label_smoothing: float = 0.0,
    progress: Progress = no_progress,
    loss: Callable[[torch.Tensor, list[int]], torch.Tensor] | None = None,
    dev_eval: Callable[[], float] | None = None,
) -> FitResult:
    """`train_loop` for an encoder with a head on token ids: model(input_ids, mask) -> logits.

    `targets` are class indices (single-label) or a multi-hot float matrix (multilabel). Other tasks (token
    classification) pass `loss(logits, batch_indices)` instead, and `dev_eval()` scoring the model as it stands.
    """
    if loss is None:
        if multilabel:
            loss_fn: nn.Module = nn.BCEWithLogitsLoss()
            target_t = torch.tensor(targets, dtype=torch.float32)
        else:
            loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
            target_t = torch.tensor(targets, dtype=torch.long)

        def loss(logits: torch.Tensor, batch: list[int]) -> torch.Tensor:
            return loss_fn(logits.float(), target_t[batch])

    if dev_eval is None and dev_ids and dev_score is not None:
        ids, score = dev_ids, dev_score
        dev_eval = lambda: score(predict_logits(model, ids, pad_id))  # noqa: E731

    def batch_loss(batch: list[int], _: random.Random) -> torch.Tensor:
        input_ids, mask = pad_batch([train_ids[i] for i in batch], pad_id)
        return loss(model(input_ids, mask), batch)

    return train_loop(model, [len(x) for x in train_ids], batch_loss, args, dev_eval=dev_eval, progress=progress)
