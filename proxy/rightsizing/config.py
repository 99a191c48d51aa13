"""The `rightsizing:`, `shadow:` and `route:` sections of the YAML config.

    rightsizing:            # which smaller model classes the report compares with
      min_agreement: 0.9
      candidates:           # per task, most preferred first; a listed task replaces
        classification:     # its defaults, [] removes them
          - {name: fine-tuned classifier, model: my-deberta, encoder: true,
             estimate: {total_params_b: 0.18, active_params_b: 0.18}}
          - {name: 8B model, model: llama-3.1-8b}
    shadow:                 # opt-in evidence: replay sampled calls on a candidate
      max_concurrency: 4
      budget_wh: 50         # shadow energy allowed per period (per gateway process)
      budget_period: day    # hour | day
      timeout_s: 60
      rules:
        - {team: support, task: classification, candidate: llama-8b, sample_rate: 0.05}
    route:                  # opt-in: send calls to the candidate once it has proved itself
      window_days: 30
      rules:
        - {team: support, task: classification, from: gpt-4o, to: llama-8b,
           min_agreement: 0.95, min_samples: 200}

`candidate` and `to` name deployments of the `models:` section. Errors are
`RightsizingConfigError` (a ValueError) with a message naming the key; `proxy.config` turns
them into `ConfigError`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from estimators import EstimatorError, Overrides
from proxy.tasks import TASKS

SECTIONS = ("rightsizing", "shadow", "route")
COMPARISONS = ("label", "fields", "exact")
DEFAULT_COMPARISON = {"classification": "label", "extraction": "fields"}
BUDGET_PERIODS = {"hour": 3600.0, "day": 86400.0}


class RightsizingConfigError(ValueError):
    """A bad `rightsizing`, `shadow` or `route` section; the message names the key."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A model class a team could use instead, as the report names and estimates it."""

    name: str  # how reports name it, e.g. "8B model"
    model: str  # the model name estimated with (catalog name, or any name plus `estimate`)
    encoder: bool = False  # one forward pass over the input, no generated tokens
    overrides: Overrides | None = None  # estimator assumptions for it (parameters, GPU...)


_CLASSIFIER = Candidate(
    name="fine-tuned classifier",
    model="fine-tuned-classifier",
    encoder=True,
    overrides=Overrides(total_params_b=0.125, active_params_b=0.125),
)
_SMALL = Candidate(name="8B model", model="llama-3.1-8b")
DEFAULT_CANDIDATES: dict[str, tuple[Candidate, ...]] = {
    "classification": (_CLASSIFIER, _SMALL),
    "extraction": (_SMALL,),
    "summarisation": (_SMALL,),
}


@dataclass(frozen=True, slots=True)
class ShadowRule:
    team: str  # a team name, or "*" for every team
    task: str
    candidate: str  # deployment name
    sample_rate: float  # 0 < rate <= 1
    comparison: str  # one of COMPARISONS


@dataclass(frozen=True, slots=True)
class ShadowSettings:
    rules: tuple[ShadowRule, ...] = ()
    max_concurrency: int = 4
    budget_wh: float = 50.0
    budget_period_s: float = BUDGET_PERIODS["day"]
    timeout_s: float = 60.0

    def rule_for(self, team: str, task: str) -> ShadowRule | None:
        """The first rule for this team (or "*") and task."""
        for rule in self.rules:
            if rule.task == task and rule.team in (team, "*"):
                return rule
        return None


@dataclass(frozen=True, slots=True)
class RouteRule:
    team: str  # a team name, or "*"
    task: str
    from_model: str  # the model name clients send
    to: str  # deployment name of the candidate
    min_agreement: float  # shadow agreement rate needed, 0..1
    min_samples: int


@dataclass(frozen=True, slots=True)
class RouteSettings:
    rules: tuple[RouteRule, ...] = ()
    window_days: int = 30  # shadow verdicts younger than this count as evidence


@dataclass(frozen=True, slots=True)
class RightsizingSettings:
    candidates: tuple[tuple[str, tuple[Candidate, ...]], ...] = tuple(DEFAULT_CANDIDATES.items())
    min_agreement: float = 0.9  # below this (Wilson upper bound) a candidate is not recommended
    shadow: ShadowSettings = field(default_factory=ShadowSettings)
    route: RouteSettings = field(default_factory=RouteSettings)

    def candidates_for(self, task: str | None) -> tuple[Candidate, ...]:
        return dict(self.candidates).get(task or "", ())


def parse_sections(
    doc: Mapping[str, Any], deployments: Collection[str]
) -> RightsizingSettings:
    """The three sections of a parsed YAML document; `deployments`: configured names."""
    rs = _mapping(doc.get("rightsizing"), "rightsizing", {"min_agreement", "candidates"})
    sh = _mapping(doc.get("shadow"), "shadow", {
        "rules", "max_concurrency", "budget_wh", "budget_period", "timeout_s"})
    ro = _mapping(doc.get("route"), "route", {"rules", "window_days"})
    candidates = dict(DEFAULT_CANDIDATES)
    for task, raw in _mapping(rs.get("candidates"), "rightsizing.candidates", TASKS).items():
        candidates[task] = _candidates(f"rightsizing.candidates.{task}", raw)
    shadow = ShadowSettings(
        rules=tuple(_shadow_rule(f"shadow.rules[{i}]", r, deployments)
                    for i, r in enumerate(_list(sh.get("rules"), "shadow.rules"))),
        max_concurrency=int(_number(sh, "max_concurrency", "shadow", 4, lo=1, whole=True)),
        budget_wh=_number(sh, "budget_wh", "shadow", 50.0, lo=0),
        budget_period_s=_budget_period(sh.get("budget_period", "day")),
        timeout_s=_number(sh, "timeout_s", "shadow", 60.0, lo=0.001),
    )
    route = RouteSettings(
        rules=tuple(_route_rule(f"route.rules[{i}]", r, deployments, shadow)
                    for i, r in enumerate(_list(ro.get("rules"), "route.rules"))),
        window_days=int(_number(ro, "window_days", "route", 30, lo=1, whole=True)),
    )
    return RightsizingSettings(
        candidates=tuple((t, candidates[t]) for t in TASKS if t in candidates),
        min_agreement=_number(rs, "min_agreement", "rightsizing", 0.9, lo=0, hi=1),
        shadow=shadow,
        route=route,
    )


def _mapping(raw: Any, where: str, known: Collection[str]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RightsizingConfigError(f"'{where}' must be a mapping")
    for key in raw:
        if key not in known:
            raise RightsizingConfigError(
                f"unknown key '{where}.{key}' (expected one of {', '.join(sorted(known))})")
    return raw


def _list(raw: Any, where: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise RightsizingConfigError(f"'{where}' must be a list")
    return raw


def _number(raw: Mapping[str, Any], key: str, where: str, default: float, *, lo: float,
            hi: float | None = None, whole: bool = False) -> float:
    value = raw.get(key, default)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= lo
    if ok and hi is not None:
        ok = value <= hi
    if ok and whole:
        ok = float(value).is_integer()
    if not ok:
        span = f"from {lo:g} to {hi:g}" if hi is not None else f">= {lo:g}"
        kind = "a whole number" if whole else "a number"
        raise RightsizingConfigError(f"'{where}.{key}' must be {kind} {span}, got {value!r}")
    return float(value)


def _name(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RightsizingConfigError(f"'{where}.{key}' is required (a non-empty string)")
    return value.strip()


def _task(raw: Mapping[str, Any], where: str) -> str:
    task = _name(raw, "task", where)
    if task not in TASKS:
        raise RightsizingConfigError(
            f"'{where}.task' must be one of {', '.join(TASKS)}, got {task!r}")
    return task


def _deployment(raw: Mapping[str, Any], key: str, where: str,
                deployments: Collection[str]) -> str:
    name = _name(raw, key, where)
    if name not in deployments:
        raise RightsizingConfigError(
            f"'{where}.{key}' names {name!r}, which is not a deployment in 'models'")
    return name


def _candidates(where: str, raw: Any) -> tuple[Candidate, ...]:
    out = []
    for i, item in enumerate(_list(raw, where)):
        at = f"{where}[{i}]"
        item = _mapping(item, at, {"name", "model", "encoder", "estimate"})
        encoder = item.get("encoder", False)
        if not isinstance(encoder, bool):
            raise RightsizingConfigError(f"'{at}.encoder' must be true or false")
        try:
            overrides = Overrides.from_mapping(item["estimate"]) if "estimate" in item else None
        except EstimatorError as exc:
            raise RightsizingConfigError(f"'{at}.estimate': {exc}") from None
        out.append(Candidate(name=_name(item, "name", at), model=_name(item, "model", at),
                             encoder=encoder, overrides=overrides))
    return tuple(out)


def _shadow_rule(where: str, raw: Any, deployments: Collection[str]) -> ShadowRule:
    raw = _mapping(raw, where, {"team", "task", "candidate", "sample_rate", "compare"})
    task = _task(raw, where)
    comparison = raw.get("compare", DEFAULT_COMPARISON.get(task))
    if comparison is None:
        raise RightsizingConfigError(
            f"'{where}.compare' is required for task {task!r} ({', '.join(COMPARISONS)})")
    if comparison not in COMPARISONS:
        raise RightsizingConfigError(
            f"'{where}.compare' must be one of {', '.join(COMPARISONS)}, got {comparison!r}")
    rate = _number(raw, "sample_rate", where, 0.0, lo=0, hi=1)
    if rate == 0:
        raise RightsizingConfigError(f"'{where}.sample_rate' must be above 0 (at most 1)")
    return ShadowRule(team=_name(raw, "team", where), task=task,
                      candidate=_deployment(raw, "candidate", where, deployments),
                      sample_rate=rate, comparison=comparison)


def _route_rule(where: str, raw: Any, deployments: Collection[str],
                shadow: ShadowSettings) -> RouteRule:
    raw = _mapping(raw, where, {"team", "task", "from", "to", "min_agreement", "min_samples"})
    rule = RouteRule(
        team=_name(raw, "team", where), task=_task(raw, where),
        from_model=_name(raw, "from", where), to=_deployment(raw, "to", where, deployments),
        min_agreement=_number(raw, "min_agreement", where, 0.95, lo=0, hi=1),
        min_samples=int(_number(raw, "min_samples", where, 100, lo=1, whole=True)),
    )
    evaluated = any(s.candidate == rule.to and s.task == rule.task
                    and (s.team == rule.team or "*" in (s.team, rule.team))
                    for s in shadow.rules)
    if not evaluated:
        raise RightsizingConfigError(
            f"'{where}': no shadow rule evaluates {rule.to!r} for team {rule.team!r} and task "
            f"{rule.task!r}, so the route could never become active")
    return rule


def _budget_period(value: Any) -> float:
    if value not in BUDGET_PERIODS:
        raise RightsizingConfigError(
            f"'shadow.budget_period' must be one of {', '.join(BUDGET_PERIODS)}, got {value!r}")
    return BUDGET_PERIODS[value]
