"""The typer application: registers the commands and turns usage errors and MicroGPT errors into one red line plus
a hint (exit code 2 for usage, 1 for ours; `--verbose` shows the traceback)."""

from __future__ import annotations

import difflib
import importlib
import logging
import os
import re
import sys
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from microgpt.errors import EXTRAS, MicroGPTError

app = typer.Typer(
    name="microgpt",
    help="Small task models trained on your own data: train, evaluate, predict — on a CPU.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)
state = {"verbose": False}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("microgpt")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0.1.0"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"microgpt {_version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks and debug logs."),
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
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
        split,
        train,
    )

    app.command("train")(train.train_cmd)
    app.command("evaluate")(evaluate.evaluate_cmd)
    app.command("predict")(predict.predict_cmd)
    app.command("split")(split.split_cmd)
    app.command("demo")(demo.demo_cmd)
    app.command("serve")(serve.serve_cmd)
    app.command("export")(export.export_cmd)
    app.command("policy")(policy.policy_cmd)
    app.command("retrain")(retrain.retrain_cmd)
    app.add_typer(modules.app, name="modules")
    app.add_typer(keys.app, name="keys")
    app.command("label")(label.label_cmd)
    app.add_typer(review.app, name="review")


def _click_exceptions() -> list[Any]:
    """The exceptions modules of every click typer may raise from: typer >= 0.29 bundles its own (`typer._click`),
    older typer re-uses the installed click. Both are caught, so a typer release cannot bring tracebacks back."""
    found = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(importlib.import_module(name))
        except ImportError:
            continue
    return found


def _classes(attr: str) -> tuple[type[BaseException], ...]:
    return tuple(getattr(mod, attr) for mod in _click_exceptions() if hasattr(mod, attr))


def _nearest(word: str, candidates: list[str]) -> str | None:
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.5)
    return close[0] if close else None


def _option_names(ctx: Any) -> list[str]:
    names: list[str] = []
    for param in getattr(ctx.command, "params", []) if ctx is not None else []:
        if getattr(param, "param_type_name", "") == "option" and not getattr(param, "hidden", False):
            names += [*param.opts, *getattr(param, "secondary_opts", [])]
    return names


def usage_hint(exc: Any) -> tuple[str, str]:
    """(the one-line problem, a hint naming the nearest command/option/choice or the usage) for a click usage error."""
    ctx = getattr(exc, "ctx", None)
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    message = re.sub(r"\s*Did you mean .*$", "", " ".join(message.split())).rstrip(".")
    path = ctx.command_path if ctx is not None else "microgpt"
    path = "microgpt" + path[path.index(" ") :] if " " in path else "microgpt"
    more = f"see '{path} --help'"
    guess = None
    option = getattr(exc, "option_name", None)
    if option:
        guess = _nearest(option, _option_names(ctx))
    elif m := re.match(r"No such command '(.+)'", message):
        commands = ctx.command.list_commands(ctx) if ctx is not None and hasattr(ctx.command, "list_commands") else []
        guess = _nearest(m.group(1), list(commands))
    elif m := re.search(r"'([^']*)' is not one of (.*)$", message):
        guess = _nearest(m.group(1), re.findall(r"'([^']*)'", m.group(2)))
    if guess:
        return message, f"did you mean {guess!r}? ({more})"
    if ctx is not None:
        usage = " ".join(ctx.get_usage().split()).replace(ctx.command_path, path, 1)
        usage = re.sub(r"\{(\w+)\}", lambda m: m.group(1).upper(), usage)  # typer 0.29 writes {data}
        usage = re.sub(r"\[([a-z_]+)\]", lambda m: f"[{m.group(1).upper()}]", usage)
        return message, f"{usage[0].lower()}{usage[1:]} — {more}"
    return message, more


def _fail(message: str, hint: str | None, code: int) -> None:
    if state["verbose"]:
        err_console.print_exception()
    err_console.print(f"[bold red]error:[/] {escape(' '.join(message.split()))}", highlight=False, soft_wrap=True)
    if hint:
        err_console.print(f"[yellow]hint:[/] {escape(hint)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if os.environ.get("MICROGPT_OFFLINE", "1") == "1":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = sys.argv[1:] if argv is None else argv
    state["verbose"] = "--verbose" in args or "-v" in args
    _register()
    no_args = _classes("NoArgsIsHelpError")
    usage = _classes("UsageError")
    click_errors = _classes("ClickException")
    aborts: tuple[type[BaseException], ...] = (typer.Abort, *_classes("Abort"))
    exits: tuple[type[BaseException], ...] = (typer.Exit, *_classes("Exit"))
    try:
        rc = app(args=args, prog_name="microgpt", standalone_mode=False)
    except MicroGPTError as err:
        _fail(err.message, err.hint, 1)
    except exits as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except aborts:
        err_console.print("aborted")
        sys.exit(130)
    except no_args:  # `microgpt` or `microgpt modules` alone: typer has printed the help
        sys.exit(2)
    except usage as exc:
        message, hint = usage_hint(exc)
        _fail(message, hint, 2)
    except ModuleNotFoundError as err:  # an optional extra missing where no library guard caught it
        package = (err.name or "").split(".")[0]
        if package not in EXTRAS:
            raise
        _fail(f"this needs {package}, which is not installed", f"pip install 'microgpt[{EXTRAS[package]}]'", 1)
    except click_errors as exc:
        _fail(exc.format_message(), None, getattr(exc, "exit_code", 1))  # type: ignore[attr-defined]
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
