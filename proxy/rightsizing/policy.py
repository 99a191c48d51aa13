"""Routing policy (opt-in): send a team's calls of one task from a large model to a
candidate deployment, once shadow evaluation has shown they agree often enough.

Pure: `decide_route` reads the rules, the call and the agreement figures it is given and
returns a decision or None; it does no I/O. A rule is active for a team only while that
team's shadow agreement for (task, candidate) is at least `min_agreement` over at least
`min_samples` compared calls. A client refuses re-routing per request with the header
`x-wattgate-reroute: off`; a re-routed answer carries `x-wattgate-rerouted-from`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from proxy.rightsizing.agreement import Agreement
from proxy.rightsizing.config import RouteRule

REROUTE_HEADER = b"x-wattgate-reroute"  # request: "off" refuses re-routing for this call
REROUTED_FROM_HEADER = b"x-wattgate-rerouted-from"  # response: the model the client asked for
_REFUSALS = frozenset({b"off", b"0", b"false", b"no"})

AgreementKey = tuple[str, str, str]  # (team, task, candidate deployment)


@dataclass(frozen=True, slots=True)
class RouteDecision:
    rule: RouteRule
    from_model: str  # what the client asked for
    to: str  # the deployment (model name in `models:`) that serves the call instead
    agreement: Agreement  # the evidence that made the rule active

    def response_headers(self) -> list[tuple[bytes, bytes]]:
        """Headers the re-routed answer carries (with `x-wattgate-deployment` as usual)."""
        return [(REROUTED_FROM_HEADER, self.from_model.encode("latin-1", "replace"))]


def client_refuses(value: bytes | None) -> bool:
    """Whether an `x-wattgate-reroute` request header value turns re-routing off."""
    return value is not None and value.strip().lower() in _REFUSALS


def decide_route(
    rules: Sequence[RouteRule], *, team: str, task: str | None, model: str | None,
    refused: bool, agreement: Mapping[AgreementKey, Agreement],
) -> RouteDecision | None:
    """The first active rule for this team, task and requested model, or None."""
    if refused or task is None or model is None:
        return None
    for rule in rules:
        if rule.task != task or rule.from_model != model or rule.team not in (team, "*"):
            continue
        evidence = agreement.get((team, task, rule.to))
        if evidence is not None and is_proven(rule, evidence):
            return RouteDecision(rule=rule, from_model=model, to=rule.to, agreement=evidence)
    return None


def is_proven(rule: RouteRule, evidence: Agreement) -> bool:
    rate = evidence.rate
    return evidence.samples >= rule.min_samples and rate is not None and (
        rate >= rule.min_agreement)
