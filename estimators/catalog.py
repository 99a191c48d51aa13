"""Model facts: parameters (total/active, ranges for closed models), weight precision,
decoder or encoder, deployment speed, and name resolution (provider prefixes, dated
snapshots, -latest names, Azure/Bedrock/Vertex spellings, quantisation suffixes), built
once from EcoLogits' models.json plus our own additions (models_extra.json, encoders.json)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from estimators import ecologits_data
from estimators.energy import PRECISION_BYTES
from estimators.errors import CatalogError
from estimators.hardware import load_data

# EcoLogits provider names <-> ours (ours are what users type and what model ids carry).
ECO_TO_OURS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google_genai": "google",
    "mistralai": "mistral",
    "cohere": "cohere",
    "huggingface_hub": "huggingface",
}
OURS_TO_ECO = {v: k for k, v in ECO_TO_OURS.items()}
# Prefixes users put in front of model names ("openai/gpt-4o", "azure/my-deploy", ...).
_PREFIX_TO_NAMESPACE = {
    "openai": "openai",
    "azure": "openai",
    "azure_openai": "openai",
    "anthropic": "anthropic",
    "bedrock": "anthropic",
    "vertex_ai": "google",
    "google": "google",
    "google_genai": "google",
    "gemini": "google",
    "vertex": "google",
    "mistral": "mistral",
    "mistralai": "mistral",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "huggingface": "huggingface",
    "huggingface_hub": "huggingface",
    "hf": "huggingface",
    "xai": "xai",
    "deepseek": "huggingface",
}


@dataclass(frozen=True, slots=True)
class ModelProfile:
    model_id: str | None  # "openai/gpt-4o"; None for a fallback profile
    namespace: str  # our provider name of the catalog entry ("openai", "huggingface", ...)
    architecture: str  # dense | moe
    active_b: tuple[float, float, float]  # min, central, max (billions)
    total_b: tuple[float, float, float]
    tps: float | None  # observed output tokens/s per stream (EcoLogits 0.10+ deployment data)
    ttft_s: float | None  # observed time to first token
    open_weights: bool
    warnings: tuple[str, ...]
    source: str
    kind: str = "decoder"  # decoder | encoder (embeddings, classifiers, rerankers)
    precision: str | None = None  # weights as released or served; None: not published
    # Always reasons and its API does not return the reasoning (OpenAI o-series, Grok 4):
    # a usage that reports no reasoning tokens has left them out of the count.
    hidden_reasoning: bool = False

    @property
    def eco_provider(self) -> str | None:
        return OURS_TO_ECO.get(self.namespace)


def _rng(v: Any) -> tuple[float, float, float]:
    if isinstance(v, dict):
        lo, hi = float(v["min"]), float(v["max"])
    else:
        lo = hi = float(v)
    if not 0 < lo <= hi:
        raise CatalogError(f"bad parameter range {v!r}")
    return (lo, (lo + hi) / 2.0, hi)


def _profile(entry: dict[str, Any], namespace: str, source_note: str) -> ModelProfile:
    arch = entry.get("architecture") or {"type": "dense", "parameters": entry["parameters"]}
    params = arch["parameters"]
    if arch["type"] == "moe":
        total, active = _rng(params["total"]), _rng(params["active"])
    else:
        total = active = _rng(params)
    warns = tuple(entry.get("warnings") or ())
    dep = entry.get("deployment") or {}
    precision = entry.get("precision")
    if precision is not None and precision not in PRECISION_BYTES:
        raise CatalogError(f"unknown precision {precision!r} for {entry['name']!r}")
    open_weights = "model-arch-not-released" not in warns
    return ModelProfile(
        model_id=f"{namespace}/{entry['name']}",
        namespace=namespace,
        architecture=arch["type"],
        active_b=active,
        total_b=total,
        tps=float(dep["tps"]) if dep.get("tps") else None,
        ttft_s=float(dep["ttft"]) if dep.get("ttft") is not None else None,
        open_weights=open_weights,
        warnings=warns,
        source="; ".join(entry.get("sources") or ()) or source_note,
        kind=entry.get("kind", "decoder"),
        precision=precision or ("bf16" if open_weights else None),
        hidden_reasoning=f"{namespace}/{entry['name']}" in _HIDDEN_REASONING,
    )


# -- build ------------------------------------------------------------------------------------

MODELS: dict[str, ModelProfile] = {}  # model id -> profile
_BY_NAME: dict[str, list[ModelProfile]] = {}  # lower-case name (and HF basename) -> profiles


def _add(profile: ModelProfile, name: str) -> None:
    assert profile.model_id is not None
    MODELS[profile.model_id] = profile
    MODELS.setdefault(profile.model_id.lower(), profile)
    keys = {name.lower()}
    if "/" in name:  # HF ids: also findable by their basename ("Meta-Llama-3.1-8B-Instruct")
        keys.add(name.rsplit("/", 1)[1].lower())
    for key in keys:
        bucket = _BY_NAME.setdefault(key, [])
        if profile not in bucket:
            bucket.append(profile)


_extra = load_data("models_extra.json")
_PRECISION: dict[str, str] = _extra["precision"]  # EcoLogits entries not released in BF16
_HIDDEN_REASONING = frozenset(_extra["hidden_reasoning"])  # model ids
_eco = ecologits_data.load("models.json")
for _entry in _eco["models"]:
    _ns = ECO_TO_OURS[_entry["provider"]]
    _entry = {**_entry, "precision": _PRECISION.get(f"{_ns}/{_entry['name']}")}
    _add(_profile(_entry, _ns, f"ecologits-data {ecologits_data.DATA_VERSION}"), _entry["name"])
for _a in _eco.get("aliases") or ():
    _ns = ECO_TO_OURS[_a["provider"]]
    _add(MODELS[f"{_ns}/{_a['alias']}"], _a["name"])
for _entry in _extra["models"]:
    _add(_profile(_entry, _entry["provider"], "wattgate models_extra.json"), _entry["name"])
_encoders = load_data("encoders.json")
for _entry in _encoders["models"]:
    _add(
        _profile({**_entry, "kind": "encoder"}, _entry["provider"], "wattgate encoders.json"),
        _entry["name"],
    )
ALIASES: dict[str, str] = {k.lower(): v for k, v in _extra["aliases"].items()}
PATTERNS: tuple[tuple[re.Pattern[str], str, bool], ...] = tuple(
    (re.compile(p), target, bool(approx)) for p, target, approx in _extra["patterns"]
)
for _target in [*ALIASES.values(), *(t for _, t, _ in PATTERNS), *_PRECISION, *_HIDDEN_REASONING]:
    if _target not in MODELS:
        raise CatalogError(f"alias target {_target!r} is not in the catalog")


# -- resolution -------------------------------------------------------------------------------

_SUFFIXES = (
    re.compile(r"-v\d+(:\d+)?$"),  # Bedrock "-v1:0"
    re.compile(r"@\d{8}$"),  # Vertex "@20241022"
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),  # OpenAI dated snapshots
    re.compile(r"-\d{8}$"),  # Anthropic dated snapshots
    re.compile(r"-latest$"),
    re.compile(r"-\d{4}$"),  # "-0613", "-2407"
    re.compile(r"-\d{3}$"),  # Google "-001"
    re.compile(r"-preview$"),
    re.compile(r"-(instruct|chat)$"),
)
_BEDROCK_REGION = re.compile(r"^(us|eu|apac|us-gov|global)\.")
# Quantisation named in a checkpoint or deployment name ("...-Instruct-FP8", "...-AWQ").
_QUANT = re.compile(
    r"(?:^|[-_./])(fp8|int8|w8a8|w8a16|8bit|q8_0|mxfp4|int4|w4a16|awq|gptq|nf4|4bit|q4_k_m|q4_0)"
    r"(?=$|[-_./])"
)
_QUANT_PRECISION = {"mxfp4": "mxfp4", "fp8": "fp8", "w8a8": "fp8"}
_QUANT_INT4 = frozenset({"int4", "w4a16", "awq", "gptq", "nf4", "4bit", "q4_k_m", "q4_0"})


def _named_precision(key: str) -> str | None:
    """'llama-3.1-405b-instruct-fp8' -> 'fp8'; None when the name names no quantisation."""
    m = _QUANT.search(key)
    if m is None:
        return None
    tag = m.group(1)
    return _QUANT_PRECISION.get(tag) or ("int4" if tag in _QUANT_INT4 else "int8")


def _pick(bucket: list[ModelProfile], prefer: tuple[str, ...]) -> ModelProfile:
    for ns in prefer:
        for p in bucket:
            if p.namespace == ns:
                return p
    return bucket[0]


def _candidates(name: str) -> list[str]:
    """`name`, then `name` with one more date/-latest/-preview suffix removed each time."""
    out = [name]
    while True:
        for suffix in _SUFFIXES:
            stripped = suffix.sub("", out[-1])
            if stripped != out[-1]:
                break
        else:
            return out
        if not stripped or stripped in out:
            return out
        out.append(stripped)


def _lookup(name: str, prefer: tuple[str, ...]) -> tuple[ModelProfile, bool] | None:
    """Exact id, exact name and our aliases (each with suffixes removed), then patterns."""
    candidates = _candidates(name)
    for candidate in candidates:
        hit = MODELS.get(candidate)
        if hit is not None and "/" in candidate and candidate.split("/", 1)[0] in OURS_TO_ECO:
            return hit, False
        bucket = _BY_NAME.get(candidate)
        if bucket:
            return _pick(bucket, prefer), False
        target = ALIASES.get(candidate)
        if target is not None:
            return MODELS[target], False
    for candidate in candidates:
        for pattern, target, approx in PATTERNS:
            if pattern.match(candidate):
                return MODELS[target], approx
    return None


@lru_cache(maxsize=4096)
def resolve(name: str, prefer: tuple[str, ...] = ()) -> tuple[ModelProfile, tuple[str, ...]]:
    """Model name as sent by a client or configured -> (profile, warnings). Never raises."""
    raw = name.strip()
    key = raw.lower()
    key = _BEDROCK_REGION.sub("", key)
    found = _lookup(key, prefer)
    if found is None and "/" in key:
        prefix, rest = key.split("/", 1)
        ns = _PREFIX_TO_NAMESPACE.get(prefix)
        if ns is not None:
            found = _lookup(rest, (ns, *prefer))
    if found is None and "." in key.split("/")[-1].split("-")[0]:  # Bedrock "anthropic.claude-..."
        head, _, rest = key.partition(".")
        if head in _PREFIX_TO_NAMESPACE:
            found = _lookup(rest, (_PREFIX_TO_NAMESPACE[head], *prefer))
    named = _named_precision(key)
    if found is not None:
        profile, approx = found
        warns = profile.warnings
        if approx:
            warns = (
                *warns,
                f"model-approximate: {raw!r} has no data of its own; using {profile.model_id}",
            )
        if named is not None and named != profile.precision:
            profile = replace(profile, precision=named)
        return profile, warns
    fb = encoder_fallback(raw) or fallback_profile(raw)
    if named is not None:
        fb = replace(fb, precision=named)
    return fb, (*fb.warnings, f"model-not-registered: {raw!r} is not in the catalog; {fb.source}")


# -- fallback profiles --------------------------------------------------------------------------

_MOE_HINT = re.compile(r"(\d+)x(\d+(?:\.\d+)?)b")
_ACTIVE_HINT = re.compile(r"(?<![a-z])a(\d+(?:\.\d+)?)b")
_SIZE_HINT = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)([bm])(?![a-z])")
# Size words, matched as whole words: "gemini-..." contains "mini" but is not a mini model.
_WORD_HINTS: tuple[tuple[str, tuple[float, float]], ...] = (
    ("nano", (1.0, 8.0)),
    ("tiny", (0.5, 4.0)),
    ("mini", (8.0, 30.0)),
    ("haiku", (10.0, 35.0)),
    ("lite", (8.0, 30.0)),
    ("small", (8.0, 30.0)),
    ("flash", (20.0, 130.0)),
    ("medium", (20.0, 130.0)),
    ("turbo", (20.0, 130.0)),
)
_DEFAULT_ACTIVE = (10.0, 200.0)
_DEFAULT_TOTAL = (10.0, 1000.0)


def _tri(lo: float, hi: float) -> tuple[float, float, float]:
    return (lo, (lo + hi) / 2.0, hi)


def fallback_profile(name: str) -> ModelProfile:
    """A wide, clearly flagged profile guessed from size hints in the name."""
    key = name.lower()
    active: tuple[float, float] | None = None
    total: tuple[float, float] | None = None
    hint = "no size hint in the name: generic 10-200B active"
    moe = _MOE_HINT.search(key)
    act = _ACTIVE_HINT.search(key)
    size = _SIZE_HINT.search(key)
    if moe:
        n, each = float(moe.group(1)), float(moe.group(2))
        total = (0.8 * n * each, n * each)
        active = (2 * each * 0.8, 2 * each * 1.1)
        hint = f"size hint '{moe.group(0)}' (MoE)"
    elif size:
        p = float(size.group(1)) / (1000.0 if size.group(2) == "m" else 1.0)
        if p > 0:
            total = (0.8 * p, 1.25 * p)
            if act:
                a = float(act.group(1))
                active = (0.8 * a, 1.25 * a) if a <= p else total
                hint = f"size hints '{size.group(0)}'/'{act.group(0)}' (MoE)"
            else:
                active = total
                hint = f"size hint '{size.group(0)}'"
    if active is None:
        for word, rng in _WORD_HINTS:
            if re.search(rf"(?<![a-z]){word}(?![a-z])", key):
                active = total = rng
                hint = f"size hint '{word}'"
                break
    if active is None or total is None:
        active, total = _DEFAULT_ACTIVE, _DEFAULT_TOTAL
    total = (max(total[0], active[0]), max(total[1], active[1]))
    return ModelProfile(
        model_id=None,
        namespace="",
        architecture="moe" if total != active else "dense",
        active_b=_tri(*active),
        total_b=_tri(*total),
        tps=None,
        ttft_s=None,
        open_weights=False,
        warnings=(),
        source=f"fallback profile from {hint}",
    )


_FAMILIES: tuple[tuple[re.Pattern[str], dict[str, list[float]], str], ...] = tuple(
    (re.compile(f["pattern"]), f["sizes"], f["source"]) for f in _encoders["families"]
)
_TOKEN_SPLIT = re.compile(r"[-_./]")


def encoder_fallback(name: str) -> ModelProfile | None:
    """A flagged encoder profile for a name of a known encoder family (a fine-tuned
    DistilBERT, a renamed BGE...), sized by its size word; None for other names."""
    key = name.lower()
    for pattern, sizes, source in _FAMILIES:
        if pattern.search(key):
            tokens = set(_TOKEN_SPLIT.split(key))
            word = next((w for w in sizes if w != "default" and w in tokens), "default")
            lo, hi = sizes[word]
            rng = _tri(lo, hi)
            return ModelProfile(
                model_id=None,
                namespace="",
                architecture="dense",
                active_b=rng,
                total_b=rng,
                tps=None,
                ttft_s=None,
                open_weights=True,
                warnings=(),
                source=f"encoder fallback from the family '{pattern.pattern.split('|')[0]}' and "
                f"size word '{word}' ({source})",
                kind="encoder",
                precision="bf16",
            )
    return None


def custom_profile(
    base: ModelProfile, active: tuple[float, float] | None, total: tuple[float, float] | None
) -> ModelProfile:
    """`base` with parameter counts declared by the deployment (overrides)."""
    act = _tri(*active) if active else base.active_b
    tot = _tri(*total) if total else (act if active and not total else base.total_b)
    if tot[2] < act[2]:
        tot = act
    return ModelProfile(
        model_id=base.model_id,
        namespace=base.namespace,
        architecture="moe" if tot != act else "dense",
        active_b=act,
        total_b=tot,
        tps=base.tps,
        ttft_s=base.ttft_s,
        open_weights=True,
        warnings=tuple(w for w in base.warnings if w != "model-arch-not-released"),
        source="parameters declared in the deployment configuration",
        kind=base.kind,
        precision=base.precision or "bf16",
    )
