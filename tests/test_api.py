"""The public API is small and explicit: `import microgpt` is all a user needs."""

from __future__ import annotations

import microgpt


def test_all_is_exactly_the_public_api():
    assert sorted(microgpt.__all__) == sorted(
        [
            "AutoConfig", "BackboneError", "Classifier", "ConfigError", "DataError", "Dataset", "Draft", "Example",
            "Extraction", "Extractor", "MicroConfig", "MicroGPTError", "ModuleFormatError", "NanoConfig",
            "NotFittedError", "Replier", "Span", "Tagger", "TinyGPTConfig", "TrainConfig", "__version__", "evaluate",
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
