"""Start-up board: how long a new process takes before it does anything, against a bare interpreter.

    .venv/bin/python bench/startup.py [--runs 10] [--python PATH]    # ≈ 1 min on 2 cores

Rows: `python -c pass` (the floor), `microgpt --help`, `python -c "import microgpt"` and a cold nano `predict` of one
text (a module trained on examples/helpdesk.csv first, outside the timing). Uses hyperfine when it is installed
(warm-up runs, mean ± stddev), else repeated subprocess timings (median, min, max). Prints a table; the figures go
into BENCHMARKS.md by hand. Issue 12's targets: `--help` within 0.45 s of `python -c pass`, nano predict ≤ 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commands(python: str, module: Path) -> list[tuple[str, list[str]]]:
    return [
        ("python -c pass", [python, "-c", "pass"]),
        ("microgpt --help", [python, "-m", "microgpt", "--help"]),
        ("import microgpt", [python, "-c", "import microgpt"]),
        ("nano predict (cold)", [python, "-m", "microgpt", "predict", str(module), "I was charged twice"]),
    ]


def with_hyperfine(cmds: list[tuple[str, list[str]]], runs: int, env: dict[str, str]) -> list[dict[str, float]]:
    out = []
    for name, cmd in cmds:
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            subprocess.run(
                ["hyperfine", "--warmup", "2", "--runs", str(runs), "--export-json", f.name, "--output", "null",
                 "--style", "none", shlex.join(cmd)],
                check=True, env=env, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            result = json.loads(Path(f.name).read_text())["results"][0]
        out.append({"name": name, "mean": result["mean"], "stddev": result["stddev"], "min": result["min"],
                    "max": result["max"]})  # fmt: skip
    return out


def with_subprocess(cmds: list[tuple[str, list[str]]], runs: int, env: dict[str, str]) -> list[dict[str, float]]:
    out = []
    for name, cmd in cmds:
        for _ in range(2):  # warm the OS file cache, as hyperfine's --warmup does
            subprocess.run(cmd, check=True, env=env, capture_output=True)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, env=env, capture_output=True)
            times.append(time.perf_counter() - start)
        out.append({"name": name, "mean": statistics.median(times), "stddev": statistics.pstdev(times),
                    "min": min(times), "max": max(times)})  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--python", default=sys.executable, help="the interpreter (venv) to measure")
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryDirectory() as tmp:
        module = Path(tmp) / "router"
        subprocess.run(
            [args.python, "-m", "microgpt", "train", str(ROOT / "examples" / "helpdesk.csv"), "--out", str(module)],
            check=True, env=env, capture_output=True,
        )  # fmt: skip
        cmds = commands(args.python, module)
        tool = "hyperfine" if shutil.which("hyperfine") else "subprocess"
        rows = (with_hyperfine if tool == "hyperfine" else with_subprocess)(cmds, args.runs, env)
    floor = rows[0]["mean"]
    stat = "mean ± sd" if tool == "hyperfine" else "median ± sd"
    print(f"start-up, {args.runs} runs each ({tool}; {args.python})\n")
    print(f"| command | {stat} (s) | min | max | over `python -c pass` |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| `{r['name']}` | {r['mean']:.3f} ± {r['stddev']:.3f} | {r['min']:.3f} | {r['max']:.3f} | "
              f"+{r['mean'] - floor:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
