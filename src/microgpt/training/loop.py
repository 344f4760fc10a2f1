"""Fine-tune an `EncoderHead` on texts → targets, with dynamic padding and early stopping on a dev split.

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

import numpy as np
import torch
from torch import nn

from microgpt.progress import Progress, no_progress

log = logging.getLogger(__name__)


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


def fine_tune(
    model: nn.Module,
    train_ids: list[list[int]],
    targets: np.ndarray,
    dev_ids: list[list[int]] | None,
    dev_score: Callable[[np.ndarray], float] | None,
    *,
    pad_id: int,
    multilabel: bool,
    epochs: float,
    batch_size: int,
    lr: float,
    head_lr: float,
    weight_decay: float,
    warmup_ratio: float,
    label_smoothing: float,
    patience: int,
    max_steps: int | None,
    max_minutes: float | None,
    seed: int,
    min_steps: int = 0,
    bf16: bool = False,
    progress: Progress = no_progress,
    loss: Callable[[torch.Tensor, list[int]], torch.Tensor] | None = None,
    dev_eval: Callable[[], float] | None = None,
) -> FitResult:
    """Train in place; at the end `model` holds the weights of the best dev epoch (or the last, without dev).

    `targets` are class indices (single-label) or a multi-hot float matrix (multilabel). Other tasks (token
    classification) pass `loss(logits, batch_indices)` instead, and `dev_eval()` scoring the model as it stands.
    """
    torch.manual_seed(seed)
    rng = random.Random(seed)
    lengths = [len(x) for x in train_ids]
    steps_per_epoch = math.ceil(len(train_ids) / batch_size)
    total_steps = max(1, math.ceil(steps_per_epoch * epochs), min_steps)
    if max_steps is not None:
        total_steps = min(total_steps, max_steps)
    head_params = [p for n, p in model.named_parameters() if n.startswith("head.")]
    body = [(n, p) for n, p in model.named_parameters() if not n.startswith("head.") and p.requires_grad]
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    groups = [
        {"params": [p for n, p in body if not n.endswith(no_decay)], "lr": lr, "weight_decay": weight_decay},
        {"params": [p for n, p in body if n.endswith(no_decay)], "lr": lr, "weight_decay": 0.0},
        {"params": head_params, "lr": head_lr, "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups)
    plan = {"total": total_steps, "warmup": int(total_steps * warmup_ratio)}

    def schedule(step: int) -> float:  # linear warmup, then linear decay to 0 at plan["total"]
        if step < plan["warmup"]:
            return (step + 1) / max(1, plan["warmup"])
        return max(0.0, (plan["total"] - step) / max(1, plan["total"] - plan["warmup"]))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
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

    result = FitResult()
    best_state: dict[str, torch.Tensor] | None = None
    best = -math.inf
    bad_epochs = 0
    step = 0
    start = time.perf_counter()
    epoch = 0
    shrunk = False  # whether the time budget cut the planned steps
    while step < total_steps:
        epoch += 1
        model.train()
        running = 0.0
        seen = 0
        for batch in length_grouped_batches(lengths, batch_size, rng):
            input_ids, mask = pad_batch([train_ids[i] for i in batch], pad_id)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = model(input_ids, mask)
            batch_loss = loss(logits, batch)
            optimizer.zero_grad(set_to_none=True)
            batch_loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            running += batch_loss.item() * len(batch)
            seen += len(batch)
            if step == 30 and max_minutes is not None:
                # With a time budget, shrink the plan so the lr decays to 0 by the deadline instead of being cut
                # off mid-schedule; 8% of the budget is kept for dev evaluations.
                per_step = (time.perf_counter() - start) / step
                fits = int(max_minutes * 60 * 0.92 / per_step)
                if fits < plan["total"]:
                    log.info("time budget: %d of %d planned steps fit in %.1f min", fits, plan["total"], max_minutes)
                    plan["total"] = total_steps = max(step + 1, fits)
                    shrunk = True
            progress("train", step, total_steps)
            out_of_time = max_minutes is not None and time.perf_counter() - start > max_minutes * 60
            if step >= total_steps or out_of_time:
                break
        record = {"epoch": float(epoch), "step": float(step), "loss": running / max(1, seen)}
        if dev_eval is not None:
            record["dev"] = dev_eval()
            if record["dev"] > best:
                best, bad_epochs = record["dev"], 0
                result.best_epoch = epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad_epochs += 1
        result.history.append(record)
        log.info("epoch %d: %s", epoch, record)
        if max_minutes is not None and time.perf_counter() - start > max_minutes * 60:
            result.stopped_because = f"time budget of {max_minutes} min reached"
            break
        # Early stopping only in the second half: before that the lr is still high and dev scores are noisy.
        if bad_epochs >= patience and step >= total_steps / 2:
            result.stopped_because = f"no dev improvement for {patience} epoch(s)"
            break
    if not result.stopped_because and shrunk:
        result.stopped_because = f"time budget of {max_minutes} min (lr schedule fitted to it)"
    if not result.stopped_because:
        result.stopped_because = (
            "step budget reached" if max_steps is not None and step >= max_steps else "all epochs done"
        )
    progress("train", step, step)  # close the bar where training actually stopped
    if best_state is not None:
        model.load_state_dict(best_state)
        result.best_dev = best
    else:
        result.best_epoch = epoch
    result.steps = step
    result.seconds = time.perf_counter() - start
    model.eval()
    return result
