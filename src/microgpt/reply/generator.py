"""The reply task's micro tier: train `tinygpt` from scratch on message → reply pairs, then draft replies by token.

A training sequence is `<|msg|> message [<|intent|> intent] <|reply|> reply <|end|>`; the loss counts only the
reply and its end token. Each epoch shows a random `intent_dropout` share of the prompts without their intent, so
the model drafts from the message alone or from message + intent. Batches are length-grouped and padded to their own
longest sequence. The cosine learning-rate schedule runs on whichever ends first, the step budget or `max_minutes`,
so a time-capped run still ends on a low learning rate instead of being cut mid-schedule.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from microgpt.backbones.tinygpt import BPETokenizer, GPTConfig, TinyGPT, generate
from microgpt.config import TinyGPTConfig
from microgpt.errors import ConfigError, ModuleFormatError
from microgpt.progress import Progress, no_progress
from microgpt.training.loop import TrainArgs, cpu_has_bf16, train_loop

log = logging.getLogger(__name__)
IGNORE = -100  # cross-entropy target for positions that are not scored (prompt and padding)


class TinyGPTEngine:
    """BPE tokenizer + `TinyGPT`; `generate(message)` yields the draft one token's text at a time."""

    tier = "micro"

    def __init__(self, config: TinyGPTConfig | None = None, seed: int = 0) -> None:
        self.config = config or TinyGPTConfig()
        self.seed = seed
        self.fit_result_: dict[str, Any] = {}

    # ---- prompts -------------------------------------------------------------------------------------------
    def prompt(self, message: str, intent: str | None = None, warn: bool = True) -> list[int]:
        """Token ids of the prompt; a message longer than `max_message_tokens` keeps its first tokens (warned)."""
        tok, cfg = self.tokenizer, self.config
        ids = tok.encode(message)
        if len(ids) > cfg.max_message_tokens:
            if warn:
                log.warning(
                    "message of %d characters (%d tokens) cut to its first %d tokens, the model's message window",
                    len(message),
                    len(ids),
                    cfg.max_message_tokens,
                )
            ids = ids[: cfg.max_message_tokens]
        out = [tok.special["<|msg|>"], *ids]
        if intent:
            out += [tok.special["<|intent|>"], *tok.encode(intent)[:16]]
        out.append(tok.special["<|reply|>"])
        return out

    # ---- training ------------------------------------------------------------------------------------------
    def fit(
        self,
        messages: Sequence[str],
        replies: Sequence[str],
        intents: Sequence[str | None] | None = None,
        progress: Progress = no_progress,
    ) -> TinyGPTEngine:
        cfg = self.config
        if cfg.n_embd % cfg.n_head:
            raise ConfigError(
                f"n_embd {cfg.n_embd} is not a multiple of n_head {cfg.n_head}",
                hint=f"e.g. n_embd {cfg.n_head * max(1, round(cfg.n_embd / cfg.n_head))}",
            )
        if cfg.block_size < cfg.max_message_tokens + 24:
            raise ConfigError(
                f"block_size {cfg.block_size} leaves no room for a reply after {cfg.max_message_tokens} message tokens",
                hint="raise block_size or lower max_message_tokens",
            )
        start = time.perf_counter()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(self.seed)
        rng = random.Random(self.seed)
        progress("tokenizer", 0, 1)
        self.tokenizer = BPETokenizer.train([*messages, *replies], vocab_size=cfg.vocab_size)
        progress("tokenizer", 1, 1)
        tok = self.tokenizer
        intents = list(intents) if intents is not None else [None] * len(messages)
        reply_ids = tok.encode_batch(list(replies))
        seqs: list[tuple[list[int], list[int], list[int]]] = []  # (prompt without intent, with intent, reply)
        for message, intent, rid in zip(messages, intents, reply_ids, strict=True):
            bare = self.prompt(message, None, warn=False)
            full = self.prompt(message, intent, warn=False) if intent else bare
            seqs.append((bare, full, rid))
        order = list(range(len(seqs)))
        rng.shuffle(order)
        n_dev = int(len(seqs) * cfg.dev_fraction) if len(seqs) >= 50 else 0
        dev, train = [seqs[i] for i in order[:n_dev]], [seqs[i] for i in order[n_dev:]]

        self.gpt_config = GPTConfig(tok.vocab_size, cfg.block_size, cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.dropout)
        model = TinyGPT(self.gpt_config)
        self.model = model
        bf16 = cfg.bf16 if cfg.bf16 is not None else cpu_has_bf16()
        args = TrainArgs(
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            betas=(0.9, 0.95),  # nanoGPT's: a shorter memory of the second moment suits a model trained from scratch
            warmup_steps=cfg.warmup_steps,
            schedule="cosine",
            min_lr_ratio=cfg.min_lr_ratio,
            grad_clip=cfg.grad_clip,
            keep_best=False,  # the dev loss is reported, not used to pick an epoch
            max_steps=cfg.max_steps,
            max_minutes=cfg.max_minutes,
            bf16=bf16,
            seed=self.seed,
        )
        log.info("tinygpt: %d parameters, %d train / %d dev pairs", model.n_params(), len(train), n_dev)
        tokens = [0]

        def batch_loss(batch: list[int], rng: random.Random) -> torch.Tensor:
            # each pair is shown without its intent with probability intent_dropout
            rows = [(bare if rng.random() < cfg.intent_dropout else full, reply)
                    for bare, full, reply in (train[i] for i in batch)]  # fmt: skip
            x, y = self._batch(rows)
            tokens[0] += int(x.numel())
            return _loss(model(x), y)  # logits (B, T, V)

        lengths = [len(full) + len(rid) + 1 for _, full, rid in train]
        dev_eval = (lambda: -self._dev_loss(dev, bf16)) if dev else None  # the loop maximises its dev score
        result = train_loop(model, lengths, batch_loss, args, dev_eval=dev_eval, progress=progress)
        history = [{"epoch": r["epoch"], "step": r["step"], "train_loss": round(r["loss"], 4), "lr": round(r["lr"], 6),
                    **({"dev_loss": round(-r["dev"], 4)} if "dev" in r else {})} for r in result.history]  # fmt: skip
        self.fit_result_ = {
            "steps": result.steps,
            "epochs": round(result.steps / max(1, math.ceil(len(train) / cfg.batch_size)), 2),
            "train_tokens": tokens[0],
            "seconds": round(time.perf_counter() - start, 1),
            "stopped_because": result.stopped_because,
            "n_params": model.n_params(),
            "bf16": bf16,
            "history": history,
        }
        return self

    def _batch(self, rows: list[tuple[list[int], list[int]]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets (B, T): targets are the next token on the reply, IGNORE on the prompt and padding."""
        block, end, pad = self.config.block_size, self.tokenizer.special["<|end|>"], self.tokenizer.special["<|pad|>"]
        seqs, starts = [], []
        for prompt, reply in rows:
            seq = [*prompt, *reply, end][: block + 1]  # a reply too long for the block loses its tail (and end)
            seqs.append(seq)
            starts.append(len(prompt))
        width = max(len(s) for s in seqs) - 1
        x = torch.full((len(seqs), width), pad, dtype=torch.long)  # (B, T)
        y = torch.full((len(seqs), width), IGNORE, dtype=torch.long)  # (B, T)
        for i, (seq, s) in enumerate(zip(seqs, starts, strict=True)):
            n = len(seq) - 1
            x[i, :n] = torch.tensor(seq[:-1])
            y[i, s - 1 : n] = torch.tensor(seq[s:])  # position s-1 (<|reply|>) predicts the reply's first token
        return x, y

    @torch.no_grad()
    def _dev_loss(self, dev: list[tuple[list[int], list[int], list[int]]], bf16: bool) -> float:
        self.model.eval()
        total, count = 0.0, 0
        for i in range(0, len(dev), 32):
            x, y = self._batch([(bare, rid) for bare, _, rid in dev[i : i + 32]])  # the harder case: no intent
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = self.model(x)
            n = int((y != IGNORE).sum())
            total += float(_loss(logits, y)) * n
            count += n
        self.model.train()
        return total / max(1, count)

    # ---- generation ----------------------------------------------------------------------------------------
    def generate(
        self,
        message: str,
        intent: str | None = None,
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        guidance: float | None = None,
    ) -> Iterator[str]:
        """The draft's text, one piece per generated token ('' while a multi-byte character is incomplete).

        `guidance` overrides the config's classifier-free guidance on the intent for this draft (1 = off)."""
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        prompt = self.prompt(message, intent)
        stream = self.tokenizer.stream_decoder()
        limit = max_new_tokens if max_new_tokens is not None else self.config.max_new_tokens
        stop = self.tokenizer.special["<|end|>"]
        for token in generate(
            self.model, prompt, limit, stop, temperature, top_p, seed, **self._guide(message, intent, guidance)
        ):
            yield stream.push(token)
        rest = stream.flush()
        if rest:
            yield rest

    def token_ids(self, message: str, intent: str | None = None, use_cache: bool = True, **kw: Any) -> list[int]:
        """Greedy (or sampled, with `seed`) token ids of a draft; `use_cache=False` is the slow reference path."""
        prompt = self.prompt(message, intent)
        limit = kw.pop("max_new_tokens", self.config.max_new_tokens)
        kw = {**self._guide(message, intent, kw.pop("guidance", None)), **kw}
        return list(generate(self.model, prompt, limit, self.tokenizer.special["<|end|>"], use_cache=use_cache, **kw))

    def _guide(self, message: str, intent: str | None, guidance: float | None = None) -> dict[str, Any]:
        """Guidance arguments for `generate`: the prompt without its intent, when there is an intent to guide on."""
        guidance = self.config.guidance if guidance is None else guidance
        if not intent or guidance == 1.0:
            return {}
        return {"guide": self.prompt(message, None, warn=False), "guidance": guidance}

    # ---- persistence ---------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        from safetensors.torch import save_model

        (directory / "tokenizer.json").write_text(self.tokenizer.json)
        save_model(self.model, str(directory / "tinygpt.safetensors"))  # tied weights stored once
        meta = {**self.describe(), "gpt": self.gpt_config.to_json()}
        (directory / "tinygpt.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> TinyGPTEngine:
        from safetensors.torch import load_model

        try:
            meta = json.loads((directory / "tinygpt.json").read_text())
            engine = cls(TinyGPTConfig(**meta["config"]), seed=int(meta.get("seed", 0)))
            engine.tokenizer = BPETokenizer((directory / "tokenizer.json").read_text())
            engine.gpt_config = GPTConfig(**meta["gpt"])
        except (OSError, KeyError, TypeError, ValueError) as err:
            raise ModuleFormatError(f"{directory} has no readable tinygpt model ({err})", hint="retrain it") from None
        if engine.tokenizer.vocab_size != engine.gpt_config.vocab_size:
            raise ModuleFormatError(f"{directory}: tokenizer and model disagree on the vocabulary", hint="retrain it")
        if engine.config.threads:
            torch.set_num_threads(engine.config.threads)
        engine.model = TinyGPT(engine.gpt_config)
        load_model(engine.model, str(directory / "tinygpt.safetensors"))
        engine.model.eval()
        engine.fit_result_ = meta.get("fit", {})
        return engine

    def describe(self) -> dict[str, Any]:
        return {
            "backbone": "tinygpt",
            "config": self.config.model_dump(mode="json"),
            "seed": self.seed,
            "n_params": int(self.model.n_params()) if hasattr(self, "model") else 0,
            "vocab_size": self.tokenizer.vocab_size if hasattr(self, "tokenizer") else 0,
            "fit": self.fit_result_,
        }


def _loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over the scored positions; logits (B, T, V), targets (B, T)."""
    return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.view(-1), ignore_index=IGNORE)
