"""Reply drafting on Bitext customer support: nano (retrieval) vs micro (tinygpt), trained on train, scored on test.

    .venv/bin/python bench/reply.py                 # both systems (≈ 30 min on 2 cores), appends to BENCHMARKS.md
    .venv/bin/python bench/reply.py --systems nano --no-write
    .venv/bin/python bench/reply.py --tinygpt '{"n_layer": 6}' --out runs/bench-reply-l6

Each system trains in its own process and is then loaded from disk and evaluated in a second fresh process, so the
speed figures are what a user who loads the module pays. Drafts are greedy, written from the message alone; each test
row's entity (order number, name, city, amount), as a caller would pass it, fills the placeholders. The modules, with
their REPORT.md (ten drafts side by side with the references), stay in --out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from run import environment, fmt, record_run  # noqa: E402  (bench/run.py: machine, number formats, BENCHMARKS.md)

SYSTEMS = {"nano": "nano", "tinygpt": "micro"}
COLUMNS = [
    ("system", "system", "{}"),
    ("rouge_l", "ROUGE-L", "{:.2%}"),
    ("chrf", "chrF", "{:.1f}"),
    ("intent_consistency", "intent consistency", "{:.1%}"),
    ("judge_accuracy", "judge on references", "{:.1%}"),
    ("unguided_rouge_l", "ROUGE-L, no guidance", "{:.2%}"),
    ("unguided_intent_consistency", "intent consistency, no guidance", "{:.1%}"),
    ("unguided_tokens_per_s", "tokens/s, no guidance", "{:,.0f}"),
    ("unrouted_rouge_l", "ROUGE-L, no router", "{:.2%}"),
    ("unrouted_intent_consistency", "intent consistency, no router", "{:.1%}"),
    ("placeholder_precision", "placeholder precision", "{:.1%}"),
    ("unsupported_numbers", "drafts with a made-up number", "{:.1%}"),
    ("train_minutes", "train min", "{:.1f}"),
    ("tokens_per_s", "tokens/s", "{:,.0f}"),
    ("first_token_ms", "first token ms (p50)", "{:.1f}"),
    ("first_token_p90_ms", "first token ms (p90)", "{:.1f}"),
    ("draft_ms", "draft ms (p50)", "{:.0f}"),
    ("tokens_per_draft", "tokens/draft", "{:.0f}"),
    ("size_mb", "size MB", "{:.1f}"),
    ("n_params", "params", "{:,}"),
    ("epochs", "epochs", "{}"),
]


def dir_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def train_job(system: str, out: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    import microgpt
    from microgpt.data import datasets

    train = datasets.bitext("train")
    start = time.perf_counter()
    model = microgpt.Replier(SYSTEMS[system], micro=overrides).fit(train)
    minutes = (time.perf_counter() - start) / 60
    model.save(out)
    fit = model.engine_.describe().get("fit", {})
    return {
        "train_minutes": minutes,
        "size_mb": dir_size_mb(out),
        "n_params": fit.get("n_params"),
        "epochs": fit.get("epochs"),
        "stopped_because": fit.get("stopped_because"),
        "history": fit.get("history"),
    }


def eval_job(out: Path) -> dict[str, Any]:
    """Drafts for the test set from the saved module, scored; REPORT.md/report.json written into the module."""
    import microgpt
    from microgpt.data import datasets
    from microgpt.reply.metrics import generation_metrics, markdown

    model = microgpt.load(out)
    test = datasets.bitext("test")
    start = time.perf_counter()
    drafts = model.drafts(test)
    seconds = time.perf_counter() - start
    result = generation_metrics(model, test, drafts=drafts)
    report = {"task": "reply", "tier": model.engine_.tier, "data": {"name": test.name, "n": len(test)},
              "metrics": result, "seconds": round(seconds, 1),
              "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    (out / "REPORT.md").write_text(markdown(report))
    (out / "drafts.jsonl").write_text(
        "".join(json.dumps({"text": e.text, "intent": e.label, "routed": d.intent, "draft": d.text}) + "\n"
                for e, d in zip(test, drafts, strict=True))
    )  # fmt: skip
    engine = getattr(model, "engine_", None)
    if getattr(engine.config, "guidance", 1.0) != 1.0:  # ablation: routed intent, but no classifier-free guidance
        guided = engine.config
        engine.config = guided.model_copy(update={"guidance": 1.0})
        plain = generation_metrics(model, test)
        engine.config = guided
        result |= {f"unguided_{k}": plain[k] for k in ("rouge_l", "intent_consistency", "tokens_per_s")}
    if getattr(model, "router_", None) is not None:  # ablation: the generator alone, from the message only
        model.router_ = None
        alone = generation_metrics(model, test)
        result |= {"unrouted_rouge_l": alone["rouge_l"], "unrouted_intent_consistency": alone["intent_consistency"]}
    return result


def run_job(args: list[str], console: Console) -> dict[str, Any]:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[7:])
            return result
    console.print(f"[red]job {args} failed[/]\n{proc.stderr[-3000:]}")
    return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", default="nano,tinygpt")
    parser.add_argument("--tinygpt", default="{}", help="JSON TinyGPTConfig overrides, e.g. '{\"max_minutes\": 20}'")
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench-reply"), help="where the modules are kept")
    parser.add_argument("--no-write", action="store_true", help="print only; do not touch BENCHMARKS.md")
    parser.add_argument("--record", default=None, help="write a saved bench/results/*-reply.json to BENCHMARKS.md")
    args = parser.parse_args()
    console = Console(width=220)
    if args.record:  # a run made with --no-write, recorded afterwards as it was measured
        saved = json.loads(Path(args.record).read_text())
        console.print(render(saved["rows"]))
        meta = saved["meta"]
        write_markdown(saved["rows"], meta, meta.get("command", "bench/reply.py"), meta.get("tinygpt", {}))
        console.print("recorded in BENCHMARKS.md")
        return
    rows = []
    for system in args.systems.split(","):
        out = Path(args.out) / system
        console.print(f"[bold]bitext[/] · {system} …", end=" ")
        start = time.perf_counter()
        row: dict[str, Any] = {"system": system, **run_job(["train", system, str(out), args.tinygpt], console)}
        if "error" not in row:
            row.update(run_job(["eval", system, str(out), "{}"], console))
        rows.append(row)
        console.print(f"done in {time.perf_counter() - start:.0f}s")
    console.print(render(rows))
    for row in rows:
        for s in row.get("samples", [])[:2]:
            console.print(f"[bold]{row['system']}[/] · {s['message']!r}\n  draft: {s['draft'][:300]!r}")
    command = " ".join(["bench/reply.py", *sys.argv[1:]])
    meta = {**environment(), "command": command, "tinygpt": json.loads(args.tinygpt)}
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"{meta['date']}-reply.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    if not args.no_write:
        write_markdown(rows, meta, meta["command"], meta["tinygpt"])
        console.print("recorded in BENCHMARKS.md")


def render(rows: list[dict[str, Any]]) -> Table:
    cols = [c for c in COLUMNS if any(r.get(c[0]) is not None for r in rows)]
    table = Table(title="reply drafting — Bitext customer support (train 4,090 → test 424)")
    for _, title, _ in cols:
        table.add_column(title, justify="left" if title == "system" else "right")
    for r in rows:
        table.add_row(*[fmt(r.get(key), f) for key, _, f in cols])
    return table


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """The issue-6 targets against this run's numbers."""
    by = {r["system"]: r for r in rows if "error" not in r}
    nano, micro = by.get("nano"), by.get("tinygpt")
    if not micro:
        return []
    out = []
    if nano:
        gap = (micro["rouge_l"] - nano["rouge_l"]) * 100
        out.append(f"micro ROUGE-L ≥ nano + 5 points: {gap:+.1f} points — {'met' if gap >= 5 else 'missed'}")
    checks = [
        ("intent consistency ≥ 95%", micro.get("intent_consistency", 0) >= 0.95, "{:.1%}", "intent_consistency"),
        ("≥ 100 tokens/s", micro.get("tokens_per_s", 0) >= 100, "{:.0f} tokens/s", "tokens_per_s"),
        ("first token ≤ 100 ms", micro.get("first_token_ms", 1e9) <= 100, "{:.1f} ms (p50)", "first_token_ms"),
        ("training ≤ 30 min", micro.get("train_minutes", 1e9) <= 30, "{:.1f} min", "train_minutes"),
    ]
    for name, ok, spec, key in checks:
        out.append(f"{name}: {spec.format(micro.get(key, float('nan')))} — {'met' if ok else 'missed'}")
    return out


def write_markdown(rows: list[dict[str, Any]], meta: dict[str, str], command: str, overrides: dict[str, Any]) -> None:
    cols = [c for c in COLUMNS if any(r.get(c[0]) is not None for r in rows)]
    lines = [
        f"### Reply drafting run {meta['date']} UTC (issue 6)",
        "",
        f"- command: `.venv/bin/python {command}`",
        f"- machine: {meta['machine']}; Python {meta['python']}; {meta['versions']}",
        "- data: Bitext customer support, train 4,090 → test 424 pairs; greedy drafts from the message alone; "
        "the test row's entity (as a caller would pass it) fills placeholders",
    ]
    if overrides:
        lines.append(f"- tinygpt overrides: `{json.dumps(overrides)}`")
    if meta.get("note"):
        lines.append(f"- note: {meta['note']}")
    lines += ["", "| " + " | ".join(t for _, t, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(k), f) for k, _, f in cols) + " |")
    lines += [""] + [f"- {v}" for v in verdicts(rows)] + [""]
    lines.append(
        "nano's tokens are words of the retrieved reply (no generation); tokens/s counts generated tokens over the "
        "whole draft time, prompt included. The judge is a nano classifier trained on the whole training replies, "
        "labelled with their intents; the router (micro) a nano classifier trained on the training messages' "
        "intents, whose prediction conditions the generator when no intent is given. The 'no guidance' columns decode "
        "from the routed intent without classifier-free guidance; the 'no router' columns are the generator alone, "
        "from the message."
    )
    lines.append("")
    record_run(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("train", "eval"):
        mode, system, out, overrides = sys.argv[1], sys.argv[2], Path(sys.argv[3]), json.loads(sys.argv[4])
        result = train_job(system, out, overrides) if mode == "train" else eval_job(out)
        print("RESULT " + json.dumps(result))
    else:
        main()
