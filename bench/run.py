"""Run the benchmark boards side by side and record them in BENCHMARKS.md.

    .venv/bin/python bench/run.py                      # all boards: banking77, cfpb, nlupp-banking, restaurant8k, sroie
    .venv/bin/python bench/run.py --boards cfpb --systems nano,sklearn-tfidf-svc

Each (board, system) trains in its own process, then a second fresh process loads the saved module and measures
single-text latency and batch throughput, so memory and latency figures are not polluted by training.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
SYSTEMS = {
    "banking77": ["sklearn-tfidf-svc", "nano", "micro"],
    "cfpb": ["sklearn-tfidf-svc", "nano", "micro"],
    "nlupp-banking": ["nano", "micro"],
    "restaurant8k": ["nano", "micro"],
    "sroie": ["nano", "micro"],
    **{f"massive-{loc}": ["nano", "multilingual"] for loc in ("en-US", "zh-CN", "es-ES", "de-DE")},
    **{f"massive-en-US→{loc}": ["nano", "multilingual"] for loc in ("zh-CN", "es-ES", "de-DE")},
}
COLUMNS = [
    ("system", "system", "{}"),
    ("accuracy", "acc %", "{:.2%}"),
    ("micro_f1", "micro-F1", "{:.2%}"),
    ("exact_match", "exact", "{:.2%}"),
    ("macro_f1", "macro-F1", "{:.2%}"),
    ("span_f1", "span F1", "{:.2%}"),
    ("field_f1", "field F1", "{:.2%}"),
    ("train_seconds", "train s", "{:.1f}"),
    ("p50_ms", "p50 ms", "{:.3f}"),
    ("p99_ms", "p99 ms", "{:.3f}"),
    ("texts_per_s", "batch texts/s", "{:,.0f}"),
    ("size_mb", "size MB", "{:.1f}"),
    ("train_peak_rss_mb", "train RSS MB", "{:,.0f}"),
    ("serve_rss_mb", "serve RSS MB", "{:,.0f}"),
    ("nano_blend", "nano blend", "{:.2f}"),
    ("epochs_run", "epochs", "{}"),
    ("per_label_f1", "F1 per slot/field", "{}"),
]


def run_job(args: list[str], console: Console) -> dict[str, object]:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "job.py"), *args], capture_output=True, text=True, env=env, check=False
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    console.print(f"[red]job {args} failed[/]\n{proc.stderr[-3000:]}")
    return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boards", default=",".join(SYSTEMS))
    parser.add_argument("--systems", default=None, help="comma-separated subset of sklearn-tfidf-svc,nano,micro")
    parser.add_argument("--no-write", action="store_true", help="print only; do not touch BENCHMARKS.md")
    args = parser.parse_args()
    console = Console(width=200)
    boards = args.boards.split(",")
    results: dict[str, list[dict[str, object]]] = {}
    with tempfile.TemporaryDirectory(prefix="microgpt-bench-") as tmp:
        for board in boards:
            systems = [s for s in SYSTEMS[board] if args.systems is None or s in args.systems.split(",")]
            for system in systems:
                console.print(f"[bold]{board}[/] · {system} …", end=" ")
                start = time.perf_counter()
                out = Path(tmp) / f"{board}-{system}"
                row = {"system": system, **run_job(["train", board, system, str(out)], console)}
                if "error" not in row and system != "sklearn-tfidf-svc":
                    row.update(run_job(["serve", board, str(out)], console))
                results.setdefault(board, []).append(row)
                console.print(f"done in {time.perf_counter() - start:.0f}s")
    for board, rows in results.items():
        console.print(render_table(board, rows))
    meta = environment()
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"{meta['date']}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    if not args.no_write:
        write_markdown(results, meta, " ".join(["bench/run.py", *sys.argv[1:]]))
        console.print("recorded in BENCHMARKS.md")


def render_table(board: str, rows: list[dict[str, object]]) -> Table:
    cols = [c for c in COLUMNS if any(c[0] in r for r in rows)]
    table = Table(title=board)
    for _, title, _ in cols:
        table.add_column(title, justify="left" if title == "system" else "right")
    for r in rows:
        table.add_row(*[fmt(r.get(key), f) for key, _, f in cols])
    return table


def fmt(value: object, spec: str) -> str:
    if value is None:
        return "—"
    try:
        return spec.format(value)
    except (ValueError, TypeError):
        return str(value)


def environment() -> dict[str, str]:
    from importlib.metadata import version

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M"),
        "machine": f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "versions": ", ".join(f"{p} {version(p)}" for p in ("microgpt", "torch", "transformers", "scikit-learn")),
    }


def write_markdown(results: dict[str, list[dict[str, object]]], meta: dict[str, str], command: str) -> None:
    lines = [
        f"### Run {meta['date']} UTC",
        "",
        f"- command: `.venv/bin/python {command}`",
        f"- machine: {meta['machine']}; Python {meta['python']}; {meta['versions']}",
        "",
    ]
    for board, rows in results.items():
        cols = [c for c in COLUMNS if any(c[0] in r for r in rows)]
        lines += [f"**{board}**", "", "| " + " | ".join(t for _, t, _ in cols) + " |"]
        lines.append("|" + "---|" * len(cols))
        for r in rows:
            lines.append("| " + " | ".join(fmt(r.get(k), f) for k, _, f in cols) + " |")
        lines.append("")
    record_run(lines)


def record_run(lines: list[str]) -> None:
    """Put a run's markdown at the top of BENCHMARKS.md's runs (newest first); every bench script records so."""
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    marker = "<!-- runs: newest first -->"
    if marker not in text:
        text += f"\n## Runs\n\n{marker}\n"
    path.write_text(text.replace(marker, marker + "\n\n" + "\n".join(lines)))


if __name__ == "__main__":
    main()
