"""The Ray engine: Ray Data reads the input (files, directories, globs, fsspec URLs), `map_batches` runs a stateful
predictor — the module loads once per worker — and the driver writes the rows back in input order.

    with ray_session(address=None, workers=2):     # a local cluster of 2 CPUs, or `address="auto"` / "ray://..."
        predict_ray("router/", "tickets/", "labelled.parquet", workers=2)

The module travels to the workers through Ray's object store (a module is kilobytes to a few hundred MB), so a real
cluster needs no shared disk for it. Each worker runs one thread (torch too).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from microgpt.batch.answers import AnswerOptions, BatchSummary, label_column, merge, text_column
from microgpt.batch.files import TableWriter, _open, sources
from microgpt.errors import ConfigError, DataError, MicroGPTError, MissingExtraError
from microgpt.progress import Progress, no_progress

ANSWER = "__microgpt_answer__"  # the predictor's column: the answer's columns as JSON (exact floats, any task)
ERROR = "__microgpt_error__"  # in place of an answer: our error on a worker, raised again on the driver


# A cluster this job starts for itself and stops when done exports no metrics and records no task timeline: on
# 2 cores those cost the workers ~2 points of their CPU (measured: each worker 88-90% busy with them, 91-93% without).
# Set as Ray's environment settings while the cluster starts (its processes inherit them), not `_system_config`,
# which makes Ray print a warning about an unstable API.
QUIET_CLUSTER = {"RAY_enable_metrics_collection": "0", "RAY_task_events_report_interval_ms": "0"}


def import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ModuleNotFoundError as err:
        raise MissingExtraError(
            "--engine ray needs Ray (with Ray Data), which is not installed",
            hint="pip install 'microgpt[ray]' — or leave out --engine to run in this process",
        ) from err
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """Ray, connected: to the cluster at `address` ("auto": the one `ray start --head` made on this machine;
    "ray://HOST:10001": a remote one), else to one started here with `workers` CPUs and stopped afterwards.
    A session already connected (`ray.init()` by the caller) is used as it is."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address:
        kwargs["address"] = address
    else:  # one logical CPU a worker and one for Ray Data's reading tasks (which ask for a whole one): with fewer,
        # `--workers 1` on a 1-CPU cluster left the read waiting on the worker and the worker on the read, forever
        kwargs["num_cpus"] = (workers or os.cpu_count() or 1) + 1
        kwargs["address"] = "local"  # a new one, even when `ray start` left a cluster running on this machine
    before = {} if address else _descendants()
    try:
        with _environment({} if address else QUIET_CLUSTER):
            ray.init(**kwargs)
    except ConnectionError as err:
        raise ConfigError(
            f"cannot reach the Ray cluster at {address!r}: {err}",
            hint="start one with `ray start --head` (then --address auto), or leave out --address for a local one",
        ) from None
    try:
        yield ray
    finally:
        started = {} if address else {p: t for p, t in _descendants().items() if p not in before}
        ray.shutdown()
        _reap(started)


# Ray's shutdown now and then leaves a worker behind, reparented to init, holding its memory for ever (seen once in
# ~20 jobs here; ray-project/ray#52322). What the local cluster started is gone when the job ends, whatever Ray did.
def _stat(pid: int | str) -> list[str]:
    """/proc/PID/stat's fields after the command name (state, ppid, ...; start time at [19]); [] if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _descendants() -> dict[int, str]:
    """{pid: start time} of this process's descendants (Linux /proc; elsewhere none, and nothing is reaped)."""
    children: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        if fields := _stat(entry.name):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            started[int(entry.name)] = fields[19]
    out, todo = {}, list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        out[pid] = started[pid]
        todo += children.get(pid, [])
    return out


def _reap(started: dict[int, str], grace: float = 5.0) -> list[int]:
    """SIGKILL those of `started` (pid: start time) still running after `grace` seconds; the pids it killed."""
    import signal

    def alive() -> list[int]:  # the same process (not a new one on a reused pid), and not a zombie
        return [pid for pid, t in started.items() if (f := _stat(pid)) and f[19] == t and f[0] != "Z"]

    deadline = time.monotonic() + grace
    while (left := alive()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return left


@contextlib.contextmanager
def _environment(settings: dict[str, str]) -> Iterator[None]:
    """`settings` in os.environ for the block (a value the user set stays), as they were afterwards."""
    before = {k: os.environ.get(k) for k in settings}
    os.environ.update({k: v for k, v in settings.items() if before[k] is None})
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)


def pack(module: str | Path) -> dict[str, bytes]:
    """A module directory as {relative path: bytes}, to ship to the workers."""
    root = Path(module)
    if not root.is_dir():
        raise DataError(f"module directory not found: {root}", hint="pass a directory written by `microgpt train`")
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class Predictor:
    """The stateful `map_batches` function: loads the module once (per Ray worker), then answers batch after batch.

    In: an Arrow batch with the text column. Out: the same batch plus one column holding each answer as JSON."""

    def __init__(self, files: Any, text_col: str, options: AnswerOptions) -> None:
        from microgpt.task import load

        if not isinstance(files, dict):  # an ObjectRef the constructor was handed as it is
            import ray

            files = ray.get(files)
        self._dir = tempfile.TemporaryDirectory(prefix="microgpt-module-")
        for rel, data in files.items():
            path = Path(self._dir.name) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        self.model = load(self._dir.name)
        if "torch" in sys.modules:  # one thread per worker: N workers on N cores, none fighting over them
            sys.modules["torch"].set_num_threads(1)
        self.text_col = text_col
        self.options = options

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        texts = batch.column(self.text_col).to_pylist()
        try:
            for i, text in enumerate(texts):
                if not isinstance(text, str) or not text.strip():
                    raise DataError(f"empty text in column {self.text_col!r}: {text!r} (row {i + 1} of a batch)",
                                    hint="fill in or remove the row")  # fmt: skip
            answers = self.options.columns(self.model, [t.replace("\r\n", "\n") for t in texts])
            cells = [json.dumps(a, ensure_ascii=False) for a in answers]
        except MicroGPTError as err:  # sent back as data: Ray's error wrapping would lose the hint
            cells = [json.dumps({ERROR: [type(err).__name__, err.message, err.hint]})] * len(texts)
        return batch.append_column(ANSWER, pa.array(cells, type=pa.string()))


def _answer(cell: str) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(cell)
    if ERROR in answer:
        name, message, hint = answer[ERROR]
        import microgpt.errors as errors

        cls = getattr(errors, name, errors.MicroGPTError)
        raise cls(message, hint)
    return answer


def read_dataset(ray: Any, src: str | Path, rows_per_block: int = 256) -> Any:
    """A Ray Dataset over the files `sources` finds (in their order), every CSV column read as text — as the
    local engine reads it — cut into blocks of exactly `rows_per_block` rows (the last one fewer).

    Blocks of one batch each, streamed (no shuffle, the order stays): a worker that finishes early takes the next
    one, so no worker idles behind a big last block, and every call gets a whole batch — micro sorts a batch by
    length before padding, and a 64-text remainder costs 40% more a text than the 256 around it."""
    fmt, files = sources(src)
    if fmt == "parquet":
        return _blocks(ray.data.read_parquet(files), rows_per_block)
    if fmt == "jsonl":
        return _blocks(ray.data.read_json(files, lines=True), rows_per_block)
    import pyarrow as pa
    import pyarrow.csv as pacsv

    delimiter = "\t" if files[0].lower().endswith(".tsv") else ","
    with _open(files[0], "rb") as f:
        first = f.readline().decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(first), delimiter=delimiter), [])
    ds = ray.data.read_csv(
        files,
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in header}, strings_can_be_null=False),
    )
    return _blocks(ds, rows_per_block)


def _blocks(ds: Any, rows: int) -> Any:
    return ds.repartition(target_num_rows_per_block=rows, strict=True)


def _answered(ray: Any, module: str | Path, src: str | Path, text_col: str | None, batch_size: int,
              options: AnswerOptions, workers: int | None) -> tuple[Any, list[str], str, int]:  # fmt: skip
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # rows come back in input order
    ctx.enable_progress_bars = False
    total = float(ray.cluster_resources().get("CPU", 1))
    n = workers or max(1, int(total))
    ds = read_dataset(ray, src, rows_per_block=batch_size * _batches_per_block(module))
    columns = list(ds.schema().names)
    col = text_column(columns, text_col, str(src))
    # Ray Data's file listing and reading tasks ask for a whole CPU: workers that held it would leave them waiting
    # forever. So N workers each ask for a share that leaves one free (a logical count: each still runs one thread,
    # and reading is light next to predicting); on a cluster of one CPU, none (Ray then places them regardless).
    per_worker = min(1.0, max(0.05, (total - 1) / n)) if total >= 2 else 0.0
    files = ray.put(pack(module))
    answered = ds.map_batches(
        Predictor,
        fn_constructor_args=(files, col, options),
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=n),
        num_cpus=per_worker,
    )
    return answered, columns, col, n


def _batches_per_block(module: str | Path) -> int:
    """nano answers a 256-text batch in ~60 ms, close to Ray's cost of a block (measured, 100,000 texts, 2 workers
    on 2 cores: 4,402/s with one batch a block, 5,355/s with 16, 4,835/s with 64); micro and the other tiers take
    seconds a batch, where one batch a block keeps every worker busy to the end (micro: 89–93% of 2 cores; 72–82%
    with 4 blocks a worker of whatever size the files gave)."""
    from microgpt.module import read_manifest

    return 16 if read_manifest(Path(module), verify=False).get("tier") == "nano" else 1


def _batches(answered: Any) -> Iterator[list[dict[str, Any]]]:
    for batch in answered.iter_batches(batch_format="pyarrow", batch_size=None):
        yield batch.to_pylist()


def predict_ray(
    module: str | Path,
    src: str | Path,
    out: str | Path,
    *,
    text_col: str | None = None,
    batch_size: int = 256,
    options: AnswerOptions | None = None,
    workers: int | None = None,
    address: str | None = None,
    progress: Progress = no_progress,
) -> BatchSummary:
    """`predict_table` on Ray: the same answer columns, in input order."""
    options = options or AnswerOptions()
    writer = TableWriter(out)
    start = time.perf_counter()
    try:
        with ray_session(address, workers) as ray:
            answered, columns, _, n = _answered(ray, module, src, text_col, batch_size, options, workers)
            writer.add_columns(columns)
            added: list[str] = []
            pending: list[dict[str, Any]] = []
            for batch in _batches(answered):
                for row in batch:
                    merged = merge(row, _answer(row.pop(ANSWER)), columns)
                    if not added:
                        added = [k for k in merged if k not in columns]
                        writer.add_columns(added)
                    pending.append(merged)
                if len(pending) >= 4096:
                    writer.write(pending)
                    progress("predict", writer.n, writer.n)
                    pending = []
            writer.write(pending)
        if writer.n == 0:
            raise DataError(f"{src} has no data rows", hint="add rows below the header")
        rows = writer.close()
    except BaseException:
        writer.abort()
        raise
    return BatchSummary(rows, added, "ray", n, time.perf_counter() - start)


def answers_ray(
    module: str | Path,
    src: str | Path,
    text_col: str | None,
    label_col: str | None,
    batch_size: int,
    options: AnswerOptions,
    workers: int | None,
    address: str | None,
    progress: Progress = no_progress,
) -> tuple[list[Any], list[dict[str, Any]], int]:
    """(gold labels, answers, workers) for `evaluate_table` on Ray."""
    with ray_session(address, workers) as ray:
        answered, columns, _, n = _answered(ray, module, src, text_col, batch_size, options, workers)
        lcol = label_column(columns, label_col, str(src))
        gold, answers = [], []
        for row in (r for batch in _batches(answered) for r in batch):
            gold.append(row[lcol])
            answers.append(_answer(row[ANSWER]))
            if len(answers) % 4096 == 0:
                progress("evaluate", len(answers), len(answers))
    return gold, answers, n
