"""The fixed choices of CLI options as enums, so `--help` lists them and a typo is a usage error naming them."""

from __future__ import annotations

from enum import StrEnum


class Task(StrEnum):
    classify = "classify"
    tag = "tag"
    extract = "extract"
    reply = "reply"


class Tier(StrEnum):
    nano = "nano"
    micro = "micro"
    auto = "auto"


class Format(StrEnum):
    table = "table"
    json = "json"


class DateOrder(StrEnum):
    DMY = "DMY"
    MDY = "MDY"
    YMD = "YMD"


class Below(StrEnum):
    escalate = "escalate"
    queue = "queue"


class Unknown(StrEnum):
    queue = "queue"
    escalate = "escalate"
    answer = "answer"


class ReviewStatus(StrEnum):
    pending = "pending"
    resolved = "resolved"
    skipped = "skipped"
    all = "all"


class ExportFormat(StrEnum):
    onnx = "onnx"


class LogLevel(StrEnum):
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"
    trace = "trace"


class Engine(StrEnum):
    """Where a batch job runs: this process, or Ray workers (a local or a real cluster)."""

    local = "local"
    ray = "ray"
