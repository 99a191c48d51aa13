"""The public surface of `estimators` is explicit, sorted and complete."""

from __future__ import annotations

import inspect

import estimators

CONTRACT = {"estimate", "Impacts", "Range", "Overrides", "EstimatorError", "METHOD_VERSION"}


def test_all_is_sorted_and_unique() -> None:
    assert estimators.__all__ == sorted(estimators.__all__)
    assert len(set(estimators.__all__)) == len(estimators.__all__)


def test_all_is_complete() -> None:
    public = {
        name
        for name, obj in vars(estimators).items()
        if not name.startswith("_") and not inspect.ismodule(obj) and name != "annotations"
    }
    assert public == set(estimators.__all__)
    assert CONTRACT <= set(estimators.__all__)


def test_estimate_signature_is_keyword_only_after_model() -> None:
    params = list(inspect.signature(estimators.estimate).parameters.values())
    assert params[0].name == "model"
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[1:])
    names = [p.name for p in params]
    assert names == [
        "model",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "reasoning_tokens",
        "latency_s",
        "ttft_s",
        "kind",
        "provider",
        "zone",
        "hardware",
        "overrides",
        "grid_intensity",
        "ecologits_compat",
    ]


def test_method_version() -> None:
    assert estimators.METHOD_VERSION == "wattgate-4"
    imp = estimators.estimate("openai/gpt-4o", input_tokens=1, output_tokens=1)
    assert imp.method.startswith("wattgate-4 (ecologits-data ")


def test_errors_are_estimator_errors() -> None:
    for name in (
        "InvalidArgumentError",
        "UnknownHardwareError",
        "UnknownZoneError",
        "CatalogError",
    ):
        assert issubclass(getattr(estimators, name), estimators.EstimatorError)
    assert issubclass(estimators.EstimatorError, ValueError)
