"""The routing decision: active only on enough agreeing evidence, refusable per request."""

from __future__ import annotations

import pytest

from proxy.rightsizing.agreement import Agreement
from proxy.rightsizing.config import RouteRule
from proxy.rightsizing.policy import (
    REROUTED_FROM_HEADER,
    client_refuses,
    decide_route,
    is_proven,
)

RULE = RouteRule(team="support", task="classification", from_model="gpt-4o", to="llama-8b",
                 min_agreement=0.95, min_samples=200)
KEY = ("support", "classification", "llama-8b")


def decide(agreement: Agreement | None, *, team: str = "support",
           task: str | None = "classification", model: str | None = "gpt-4o",
           refused: bool = False, rules: tuple[RouteRule, ...] = (RULE,)):  # type: ignore[no-untyped-def]
    figures = {} if agreement is None else {(team, "classification", "llama-8b"): agreement}
    return decide_route(rules, team=team, task=task, model=model, refused=refused,
                        agreement=figures)


@pytest.mark.parametrize(
    ("agreed", "samples", "active"),
    [
        (190, 200, True),  # 95.0% over 200: both thresholds met exactly
        (189, 200, False),  # 94.5%
        (189, 199, False),  # 95.0% but one sample short
        (1000, 1000, True),
        (0, 0, False),
    ],
)
def test_active_only_at_or_above_both_thresholds(agreed: int, samples: int,
                                                 active: bool) -> None:
    evidence = Agreement(agreed=agreed, samples=samples)
    decision = decide(evidence)
    assert (decision is not None) is active
    assert is_proven(RULE, evidence) is active
    if decision is not None:
        assert (decision.to, decision.from_model, decision.agreement) == (
            "llama-8b", "gpt-4o", evidence)


def test_no_evidence_no_route() -> None:
    assert decide(None) is None


def test_the_rule_must_match_team_task_and_model() -> None:
    proven = Agreement(agreed=300, samples=300)
    assert decide(proven, team="search") is None
    assert decide(proven, task="extraction") is None
    assert decide(proven, model="gpt-4o-mini") is None
    assert decide(proven, task=None) is None and decide(proven, model=None) is None
    wildcard = RouteRule(team="*", task="classification", from_model="gpt-4o", to="llama-8b",
                         min_agreement=0.95, min_samples=200)
    assert decide(proven, team="search", rules=(wildcard,)) is not None


def test_evidence_is_per_team() -> None:
    wildcard = RouteRule(team="*", task="classification", from_model="gpt-4o", to="llama-8b",
                         min_agreement=0.95, min_samples=200)
    proven_for_support = {KEY: Agreement(agreed=300, samples=300)}
    assert decide_route((wildcard,), team="search", task="classification", model="gpt-4o",
                        refused=False, agreement=proven_for_support) is None


def test_client_can_refuse() -> None:
    assert decide(Agreement(agreed=300, samples=300), refused=True) is None
    for value in (b"off", b"OFF", b" off ", b"0", b"false", b"no"):
        assert client_refuses(value)
    for value in (None, b"on", b"", b"auto"):
        assert not client_refuses(value)


def test_response_header_names_the_requested_model() -> None:
    decision = decide(Agreement(agreed=300, samples=300))
    assert decision is not None
    assert decision.response_headers() == [(REROUTED_FROM_HEADER, b"gpt-4o")]
