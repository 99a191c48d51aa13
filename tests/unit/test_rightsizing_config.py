"""The `rightsizing`, `shadow` and `route` YAML sections: defaults, parsing, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.config import ConfigError, load_settings
from proxy.rightsizing.config import DEFAULT_CANDIDATES, RightsizingSettings

MODELS = """
models:
  - {name: gpt-4o, base_url: "http://up.example/v1"}
  - {name: llama-8b, base_url: "http://vllm.example/v1", upstream_model: meta-llama/Llama-3.1-8B}
"""
SHADOW = """
shadow:
  rules:
    - {team: support, task: classification, candidate: llama-8b, sample_rate: 0.1}
"""


def load(tmp_path: Path, text: str) -> RightsizingSettings:
    path = tmp_path / "wattgate.yaml"
    path.write_text(text)
    return load_settings(env={}, config_path=str(path)).rightsizing


def test_defaults_without_sections(tmp_path: Path) -> None:
    config = load(tmp_path, MODELS)
    assert config == RightsizingSettings()
    assert [c.name for c in config.candidates_for("classification")] == [
        "fine-tuned classifier", "8B model"]
    assert config.candidates_for("generation") == ()
    assert config.candidates_for(None) == ()
    assert config.shadow.rules == () and config.route.rules == ()


def test_full_sections(tmp_path: Path) -> None:
    config = load(tmp_path, MODELS + SHADOW + """
  max_concurrency: 2
  budget_wh: 5
  budget_period: hour
  timeout_s: 20
rightsizing:
  min_agreement: 0.8
  candidates:
    classification:
      - {name: our DeBERTa, model: deberta-v3-base, encoder: true,
         estimate: {total_params_b: 0.18, active_params_b: 0.18, gpu: A100}}
    extraction: []
route:
  window_days: 7
  rules:
    - {team: support, task: classification, from: gpt-4o, to: llama-8b,
       min_agreement: 0.97, min_samples: 300}
""")
    (deberta,) = config.candidates_for("classification")
    assert deberta.encoder and deberta.overrides is not None
    assert deberta.overrides.gpu == "A100" and deberta.overrides.total_params_b == 0.18
    assert config.candidates_for("extraction") == ()
    assert config.candidates_for("summarisation") == DEFAULT_CANDIDATES["summarisation"]
    assert config.min_agreement == 0.8
    shadow = config.shadow
    assert (shadow.max_concurrency, shadow.budget_wh, shadow.budget_period_s,
            shadow.timeout_s) == (2, 5.0, 3600.0, 20.0)
    (rule,) = shadow.rules
    assert (rule.team, rule.task, rule.candidate, rule.sample_rate, rule.comparison) == (
        "support", "classification", "llama-8b", 0.1, "label")
    assert shadow.rule_for("support", "classification") == rule
    assert shadow.rule_for("search", "classification") is None
    (route,) = config.route.rules
    assert (route.from_model, route.to, route.min_agreement, route.min_samples) == (
        "gpt-4o", "llama-8b", 0.97, 300)
    assert config.route.window_days == 7


def test_wildcard_team_and_default_comparisons(tmp_path: Path) -> None:
    config = load(tmp_path, MODELS + """
shadow:
  rules:
    - {team: "*", task: extraction, candidate: llama-8b, sample_rate: 1}
    - {team: "*", task: generation, candidate: llama-8b, sample_rate: 0.5, compare: exact}
""")
    extraction, generation = config.shadow.rules
    assert extraction.comparison == "fields" and generation.comparison == "exact"
    assert config.shadow.rule_for("anyone", "extraction") == extraction


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rightsizing: [1]", "'rightsizing' must be a mapping"),
        ("rightsizing: {colour: red}", "unknown key 'rightsizing.colour'"),
        ("rightsizing: {min_agreement: 2}",
         "'rightsizing.min_agreement' must be a number from 0 to 1"),
        ("rightsizing: {candidates: {poetry: []}}", "unknown key 'rightsizing.candidates.poetry'"),
        ("rightsizing: {candidates: {code: [{name: x}]}}",
         "'rightsizing.candidates.code[0].model' is required"),
        ("rightsizing: {candidates: {code: [{name: x, model: y, encoder: maybe}]}}",
         "'rightsizing.candidates.code[0].encoder' must be true or false"),
        ("rightsizing: {candidates: {code: [{name: x, model: y, estimate: {gpu: Z9}}]}}",
         "'rightsizing.candidates.code[0].estimate':"),
        ("shadow: {rules: [{team: a, task: chat, candidate: llama-8b, sample_rate: 1}]}",
         "'shadow.rules[0].task' must be one of classification"),
        ("shadow: {rules: [{team: a, task: extraction, candidate: nope, sample_rate: 1}]}",
         "'shadow.rules[0].candidate' names 'nope', which is not a deployment"),
        ("shadow: {rules: [{team: a, task: extraction, candidate: llama-8b}]}",
         "'shadow.rules[0].sample_rate' must be above 0"),
        ("shadow: {rules: [{team: a, task: extraction, candidate: llama-8b, sample_rate: 1.5}]}",
         "'shadow.rules[0].sample_rate' must be a number from 0 to 1"),
        ("shadow: {rules: [{team: a, task: code, candidate: llama-8b, sample_rate: 1}]}",
         "'shadow.rules[0].compare' is required for task 'code'"),
        ("shadow: {rules: [{team: a, task: code, candidate: llama-8b, sample_rate: 1, "
         "compare: vibes}]}", "'shadow.rules[0].compare' must be one of label, fields, exact"),
        ("shadow: {max_concurrency: 0}", "'shadow.max_concurrency' must be a whole number >= 1"),
        ("shadow: {max_concurrency: 1.5}", "'shadow.max_concurrency' must be a whole number"),
        ("shadow: {budget_period: week}", "'shadow.budget_period' must be one of hour, day"),
        ("shadow: {budget_wh: -1}", "'shadow.budget_wh' must be a number >= 0"),
        ("route: {rules: [{team: a, task: extraction, from: gpt-4o, to: llama-8b}]}",
         "no shadow rule evaluates 'llama-8b' for team 'a' and task 'extraction'"),
        ("route: {rules: [{team: a, task: extraction, from: gpt-4o, to: nope}]}",
         "'route.rules[0].to' names 'nope'"),
        ("route: {rules: [{task: extraction, from: gpt-4o, to: llama-8b}]}",
         "'route.rules[0].team' is required"),
        ("route: {window_days: 0}", "'route.window_days' must be a whole number >= 1"),
        ("settings: {rightsizing: 1}", "unknown key 'settings.rightsizing'"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "wattgate.yaml"
    path.write_text(MODELS + text + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings(env={}, config_path=str(path))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_route_for_a_team_covered_by_a_wildcard_shadow_rule(tmp_path: Path) -> None:
    config = load(tmp_path, MODELS + """
shadow:
  rules: [{team: "*", task: classification, candidate: llama-8b, sample_rate: 0.1}]
route:
  rules: [{team: support, task: classification, from: gpt-4o, to: llama-8b}]
""")
    (route,) = config.route.rules
    assert (route.min_agreement, route.min_samples) == (0.95, 100)
