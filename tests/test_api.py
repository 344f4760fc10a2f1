"""The public API is small and explicit: `import microgpt` is all a user needs."""

from __future__ import annotations

import microgpt


def test_all_is_exactly_the_public_api():
    assert sorted(microgpt.__all__) == sorted(
        [
            "AutoConfig", "BackboneError", "Classifier", "ConfigError", "CrfConfig", "DataError", "Dataset", "Draft",
            "Example",
            "Extraction", "Extractor", "MicroConfig", "MicroGPTError", "ModuleFormatError", "NanoConfig",
            "NotFittedError", "Replier", "Span", "Tagger", "TinyGPTConfig", "__version__", "evaluate", "label",
            "load", "read_examples", "train", "train_test_split",
        ]
    )  # fmt: skip
    for name in microgpt.__all__:
        assert getattr(microgpt, name) is not None


def test_every_error_is_a_microgpt_error_with_a_hint():
    for name in ("DataError", "ConfigError", "NotFittedError", "ModuleFormatError", "BackboneError"):
        cls = getattr(microgpt, name)
        assert issubclass(cls, microgpt.MicroGPTError)
        err = cls("what happened", hint="what to do")
        assert str(err) == "what happened\nhint: what to do"


def test_train_api_rejects_unknown_task(helpdesk):
    import pytest

    with pytest.raises(microgpt.ConfigError, match="unknown task 'summarise'"):
        microgpt.train(helpdesk, task="summarise")


def test_import_is_light():
    """`import microgpt` (and the lazy names) must not pull scikit-learn, SciPy or PyTorch: the CLI starts fast."""
    import subprocess
    import sys

    code = (
        "import sys, microgpt; microgpt.Classifier; microgpt.Extractor; microgpt.Replier; microgpt.train;"
        "print(sorted(m for m in ('sklearn', 'scipy', 'torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_train_takes_columns_and_config(tmp_path):
    rows = (
        ["msg,route"]
        + [f"charged twice {i},billing" for i in range(4)]
        + [f"parcel late {i},shipping" for i in range(4)]
    )
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    model = microgpt.train(path, text_col="msg", label_col="route", config='{"nano": {"c": 0.5}}')
    assert model.labels_ == ["billing", "shipping"]
    assert model.config("nano").c == 0.5
    import pytest

    with pytest.raises(microgpt.ConfigError, match="does not take 'schema'"):
        microgpt.train(path, text_col="msg", label_col="route", schema="date:date")
