"""The typer application: registers the commands and turns MicroGPT errors into one red line plus a hint."""

from __future__ import annotations

import logging
import os
import sys

import typer
from rich.console import Console

from microgpt.errors import MicroGPTError

app = typer.Typer(
    name="microgpt",
    help="Small task models trained on your own data: train, evaluate, predict — on a CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)
state = {"verbose": False}


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks and debug logs.")) -> None:
    state["verbose"] = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def _register() -> None:
    from microgpt.cli import (
        demo,
        evaluate,
        export,
        keys,
        label,
        modules,
        policy,
        predict,
        retrain,
        review,
        serve,
        train,
    )

    app.command("train")(train.train_cmd)
    app.command("evaluate")(evaluate.evaluate_cmd)
    app.command("predict")(predict.predict_cmd)
    app.command("demo")(demo.demo_cmd)
    app.command("serve")(serve.serve_cmd)
    app.command("export")(export.export_cmd)
    app.command("policy")(policy.policy_cmd)
    app.command("retrain")(retrain.retrain_cmd)
    app.add_typer(modules.app, name="modules")
    app.add_typer(keys.app, name="keys")
    app.command("label")(label.label_cmd)
    app.add_typer(review.app, name="review")


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1") if os.environ.get("MICROGPT_OFFLINE", "1") == "1" else None
    _register()
    try:
        app(standalone_mode=False)
    except MicroGPTError as err:
        if state["verbose"]:
            err_console.print_exception()
        err_console.print(f"[bold red]error:[/] {err.message}", highlight=False)
        if err.hint:
            err_console.print(f"[yellow]hint:[/] {err.hint}", highlight=False)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
