"""`microgpt label DATA --out labelled.jsonl (--module M | --labels a,b,c)`: distil a large model's labels into data."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from microgpt.cli.choices import Engine
from microgpt.cli.progress import progress_bar
from microgpt.cli.review import find_module
from microgpt.data.readers import read_examples
from microgpt.errors import ConfigError

console = Console(stderr=True)


def label_cmd(
    data: Path = typer.Argument(..., help="Texts to label: .csv or .jsonl (a text column is enough)."),
    out: Path = typer.Option(..., "--out", "-o", help="Labelled JSONL to write (text, label, source, teacher)."),
    module: str = typer.Option(
        None, "--module", "-m", help="A module directory or registry name: its labels are the choices."
    ),
    labels: str = typer.Option(None, "--labels", help="The choices as a comma-separated list, e.g. billing,refund."),
    name: str = typer.Option(
        None, "--name", help="Module name for the review queue and teacher log (default: the module's, else OUT's)."
    ),
    examples: Path = typer.Option(None, "--examples", help="Labelled data: a few examples per label go in the prompt."),
    per_label: int = typer.Option(2, "--per-label", help="Examples per label in the prompt."),
    text_col: str = typer.Option(None, "--text-col", help="Text column of DATA (default: text, message, ...)."),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible API, e.g. http://127.0.0.1:8080/v1."),
    model: str = typer.Option(None, "--model", "--teacher", help="The teacher model's name."),
    api_key: str = typer.Option(None, "--api-key", help="Bearer key (default: $MICROGPT_LLM_API_KEY)."),
    budget_usd: float = typer.Option(None, "--budget-usd", help="Stop calling once this much USD could be passed."),
    timeout_s: float = typer.Option(None, "--timeout", help="Seconds to wait for one answer (default 30)."),
    retries: int = typer.Option(None, "--retries", help="Retries after a timeout, 429 or 5xx (default 2)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Calls in flight at once (--engine ray: across workers)."),
    engine: Engine = typer.Option(
        Engine.local, "--engine", help="local (threads here) or ray (Ray workers; one budget for all of them)."
    ),
    address: str = typer.Option(None, "--address", help="--engine ray: the cluster ('auto'; default: a local one)."),
) -> None:
    """Label DATA with a large model (the teacher); texts it cannot label go to the review queue, never lost."""
    from microgpt.lifecycle.label import label
    from microgpt.routing.llm import FallbackConfig, FallbackError
    from microgpt.task import task_class

    if (module is None) == (labels is None):
        raise ConfigError(
            "give the label set with --module M or with --labels a,b,c (one of them)",
            hint="e.g. microgpt label texts.csv --labels billing,refund --out labelled.jsonl",
        )
    version = None
    if module is not None:
        ref = find_module(module)
        if ref is None:
            raise ConfigError(
                f"no module directory or registry module named {module!r}",
                hint="pass a directory written by `microgpt train --out DIR`, or see `microgpt modules list`",
            )
        if not task_class(ref.task).teacher_labels:
            raise ConfigError(
                f"module {ref.name!r} is a {ref.task!r} module; `microgpt label` asks the teacher for one label",
                hint="label data for a classifier, or pass --labels",
            )
        choices, store_name, version = ref.labels, name or ref.name, ref.version
    else:
        choices = list(dict.fromkeys(x.strip() for x in labels.split(",") if x.strip()))
        store_name = name or out.stem
        if len(choices) < 2:
            raise ConfigError(f"--labels needs at least two labels, got {choices}", hint="e.g. --labels billing,refund")
    config = FallbackConfig.from_env(
        base_url=base_url, model=model, api_key=api_key, budget_usd=budget_usd, timeout_s=timeout_s, retries=retries
    )
    shots: dict[str, list[str]] = {}
    if examples is not None:
        for e in read_examples(examples, min_per_label=0):
            if e.label in choices:
                shots.setdefault(e.label, []).append(e.text)
    texts = list(dict.fromkeys(read_examples(data, text_col=text_col, require_labels=False, min_per_label=0).texts))
    console.print(
        f"[bold]{len(texts)}[/] texts from {data} → teacher [bold]{config.model}[/] ({len(choices)} labels"
        f"{f', {sum(len(v[:per_label]) for v in shots.values())} examples' if shots else ''})"
    )
    with progress_bar(console) as progress:
        result = label(texts, choices, out=out, name=store_name, config=config, examples=shots, per_label=per_label,
                       workers=workers, version=version, progress=progress, engine=engine.value,
                       address=address)  # fmt: skip
    console.print(f"labelled [bold]{result.labelled}[/] of {len(texts)} texts → [green]{out}[/]")
    if result.queued:
        why = ", ".join(f"{reason} {n}" for reason, n in result.queued.most_common())
        console.print(
            f"[yellow]{sum(result.queued.values())} queued for review[/] ({why}): "
            f"microgpt review list --module {store_name}"
        )
    usage = result.usage
    console.print(
        f"teacher: {usage['calls']} calls, {usage['tokens_in']:,} tokens in, {usage['tokens_out']:,} out, "
        f"${usage['spent_usd']:.4f}" + (f" of ${config.budget_usd:.2f} budget" if config.budget_usd is not None else "")
    )
    if result.labelled == 0 and result.last_error is not None:
        raise FallbackError(
            f"the teacher labelled none of the {len(texts)} texts; last error: {result.last_error.message}",
            hint=result.last_error.hint,
        )
    if result.labelled:
        console.print(f"next: microgpt train {out} --out DIR")
