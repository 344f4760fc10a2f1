"""`microgpt policy DIR DATA --min-precision 0.98 | --max-escalation 0.1`: choose the cascade threshold on held-out
labelled data and save it in the module, so `predict`, the server and `Cascade` decide answer / escalate / queue."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from microgpt.cli.choices import Below, Unknown
from microgpt.cli.evaluate import warn_overlap
from microgpt.data.readers import read_examples
from microgpt.errors import ConfigError
from microgpt.module import update_manifest


def policy_cmd(
    module: Path = typer.Argument(..., help="A trained classifier module directory."),
    data: Path = typer.Argument(..., help="Held-out labelled data (not the training data): .csv or .jsonl."),
    min_precision: float = typer.Option(None, "--min-precision", help="Answered items must be at least this precise."),
    max_escalation: float = typer.Option(None, "--max-escalation", help="At most this share may be sent onwards."),
    below: Below = typer.Option(Below.escalate, help="What to do below the threshold: escalate (to an LLM) or queue."),
    unknown: Unknown = typer.Option(Unknown.queue, help="What to do with inputs unlike the training data."),
    text_col: str = typer.Option(None, "--text-col", help="Text column of DATA (default: text, message, ...)."),
    label_col: str = typer.Option(None, "--label-col", help="Label column of DATA (default: label, category, ...)."),
) -> None:
    """Choose and save the confidence threshold that meets your target on held-out data."""
    from microgpt.task import load

    model = load(module)
    if not hasattr(model, "set_policy"):
        raise ConfigError(f"{module} is a {model.task} module", hint="cascade policies apply to classifiers for now")
    dataset = read_examples(data, text_col=text_col, label_col=label_col, min_per_label=0)
    if warn_overlap(Console(stderr=True), module, dataset.texts):
        Console(stderr=True).print("a threshold chosen on training texts is too trusting: pass held-out data")
    policy = model.set_policy(  # type: ignore[attr-defined]
        dataset, min_precision=min_precision, max_escalation=max_escalation, below=below.value, unknown=unknown.value
    )
    update_manifest(module, policy=policy.to_json())
    console = Console()
    state = "[green]met[/]" if policy.met else "[red]not reachable[/] — everything below 100% confidence is sent on"
    console.print(
        f"threshold [bold]{policy.threshold:.4f}[/] for {policy.target} ({state}) on {len(dataset)} held-out texts: "
        f"answers {policy.coverage:.1%} at precision {policy.precision:.3f}; below it: {policy.below}; "
        f"unknown inputs: {policy.unknown}"
    )
    console.print(f"saved in {module}/microgpt.json — microgpt predict {module} TEXT now shows the decision")
