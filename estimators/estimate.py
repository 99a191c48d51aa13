"""`estimate()`: compose catalog, serving assumptions, grid and energy coefficients into
`Impacts`.

Everything that depends only on the deployment (model, provider, zone, hardware,
overrides) is resolved once into a cached plan: a central `Load` plus, for each uncertain
assumption that changes the per-token coefficients (parameters, concurrency, an encoder's
fixed pass cost), the `Load`s at its two ends; assumptions that only scale the result (host
share, idle capacity, PUE, model error) become constant log half-widths. A call evaluates
each `Load` once and combines the assumptions' log deviations in quadrature, so the range
is as wide as the uncertain assumptions make it for this call's token mix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from estimators import ecologits_data, factors, serving
from estimators.catalog import ModelProfile, custom_profile, resolve
from estimators.energy import (
    ECO_BATCH,
    DecodeEnds,
    EcoScenario,
    Load,
    bytes_per_param,
    call_joules,
    decode_ends,
    decoder_load,
    ecologits_scenario,
    encoder_load,
    gpus_needed,
)
from estimators.errors import InvalidArgumentError
from estimators.grid import LIVE_SOURCE, STATIC_SOURCE, GridMix, resolve_zone
from estimators.hardware import (
    PROVIDERS,
    REFERENCE_GPU,
    GpuSpec,
    ProviderDefaults,
    resolve_gpu,
    resolve_provider,
)
from estimators.overrides import Overrides
from estimators.serving import Span
from estimators.types import Assumptions, Breakdown, Impacts, Range, new_impacts

METHOD_VERSION = "wattgate-4"
METHOD = f"{METHOD_VERSION} (ecologits-data {ecologits_data.DATA_VERSION})"
COMPAT_METHOD = f"ecologits-compat (ecologits {ecologits_data.DATA_VERSION} formulas)"
KINDS = frozenset({"chat", "completion", "embedding", "responses", "messages"})
_HARDWARE_KEYS = frozenset({"gpu", "gpu_count", "batch_size", "precision"})
DECLARED_MARKET_SOURCE = "operator-declared (deployment configuration)"
# Precisions tried, in order, when declared GPUs cannot hold the weights as released.
_FIT_PRECISIONS = ("fp8", "int4")


class _Plan(NamedTuple):
    loads: tuple[Load, ...]  # [0]: central; then both ends of each uncertain assumption
    dims: tuple[tuple[int, int], ...]  # indices into `loads` of each assumption's two ends
    # Assumptions that change the decode coefficients only, as differences from loads[0];
    # `with_ends` adds their end loads (lo, hi of each, in order) to `loads`, for the calls
    # whose context reaches `decode_cap`, where a batch cap makes differences inexact;
    # `full_dims` indexes every assumption's two ends in `with_ends`.
    decode_dims: tuple[DecodeEnds, ...]
    with_ends: tuple[Load, ...]
    full_dims: tuple[tuple[int, int], ...]
    decode_cap: float
    # Squared log half-widths (down, up) of the assumptions that scale the result: model
    # error (GPU energy), host and idle shares (IT energy), PUE (facility energy).
    err2: tuple[float, float]
    site2: tuple[float, float]
    pue2: tuple[float, float]
    host: float  # host joules per GPU joule (central)
    idle: float  # idle capacity, share of active IT energy (central)
    pue: float
    wue_onsite: float  # mL per Wh of IT energy (= L/kWh)
    wue_offsite: float  # mL per Wh of facility energy (= L/kWh of electricity generated)
    water_w: float  # factor the WUE range adds to water's range, either way
    emb_per_gpu_j: float  # g CO2e of embodied hardware per GPU joule (central)
    emb_w: float  # factor lifetime and service share add to embodied's range, either way
    measured: tuple[float, float] | None  # IT J per output, per input token (declared)
    encoder: bool  # no decoding: output tokens cost nothing
    hidden_reasoning: bool  # reasoning tokens the usage leaves out are imputed
    zone: str
    grid: float  # static g CO2e/kWh of the zone
    market: float | None  # market-based g CO2e/kWh (supplier-specific or declared)
    market_source: str | None
    model_id: str | None
    quality: str
    method: str
    warnings: tuple[str, ...]
    assumptions: Assumptions


class _CompatPlan(NamedTuple):
    ends: tuple[EcoScenario, ...]  # EcoLogits' min and max parameter runs (one when equal)
    zone: str
    grid: float
    model_id: str | None
    quality: str
    warnings: tuple[str, ...]
    assumptions: Assumptions


def _provider_for(profile: ModelProfile, given: str | None) -> tuple[ProviderDefaults, list[str]]:
    warns: list[str] = []
    if given is not None:
        defaults, known = resolve_provider(given)
        if not known:
            warns.append(f"provider-unknown: {given!r}; generic data-centre defaults used")
        return defaults, warns
    if profile.namespace in PROVIDERS:
        return PROVIDERS[profile.namespace], warns
    return PROVIDERS["generic"], warns


def _hardware(hw: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in hw:
        if key not in _HARDWARE_KEYS:
            raise InvalidArgumentError(
                f"unknown hardware key {key!r} (known: {', '.join(sorted(_HARDWARE_KEYS))})"
            )
        if value is None:
            continue
        if key == "gpu":
            out[key] = resolve_gpu(str(value))
        elif key == "precision":
            out[key] = Overrides(precision=value).precision
        else:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(
                    f"hardware {key!r} must be an integer >= 1, got {value!r}"
                )
            out[key] = value
    return out


def _quality(profile: ModelProfile, declared: bool) -> str:
    """fallback: sized from the name; otherwise by what the parameters come from."""
    if profile.model_id is None and not declared:
        return "fallback"
    return "modelled-open-weights" if profile.open_weights else "modelled-closed"


def _compat_plan(
    profile: ModelProfile,
    defaults: ProviderDefaults,
    mix: GridMix,
    warns: list[str],
    declared: bool,
) -> _CompatPlan:
    eco = PROVIDERS.get(profile.namespace, defaults)
    if profile.model_id is None or profile.eco_provider is None:
        warns.append("ecologits-compat: model unknown to EcoLogits; its formulas applied anyway")
    lo, hi = (
        ecologits_scenario(
            active_b=profile.active_b[i],
            total_b=profile.total_b[i],
            pue=eco.pue[i],
            wue_onsite=eco.wue_onsite[i],
            wue_offsite=mix.wue_offsite_l_per_kwh,
            tps=profile.tps,
            ttft_s=profile.ttft_s,
        )
        for i in (0, 2)
    )
    return _CompatPlan(
        ends=(lo,) if lo == hi else (lo, hi),
        zone=mix.zone,
        grid=mix.gco2e_per_kwh,
        model_id=profile.model_id,
        quality=_quality(profile, declared),
        warnings=tuple(warns),
        assumptions=Assumptions(
            provider=eco.key,
            gpu="H100",
            gpu_count=hi.gpu_count,
            batch_size=ECO_BATCH,
            precision="bf16",
            pue=(eco.pue[0] + eco.pue[2]) / 2,
            wue_onsite_l_per_kwh=(eco.wue_onsite[0] + eco.wue_onsite[2]) / 2,
            wue_offsite_l_per_kwh=mix.wue_offsite_l_per_kwh,
            host_share=0.0,
            idle_share=0.0,
            active_params_b=Range(*_vmm(profile.active_b)),
            total_params_b=Range(*_vmm(profile.total_b)),
            factors=factors.encode(
                eco.key,
                [
                    ("formulas", f"ecologits-{ecologits_data.DATA_VERSION}", "assumed"),
                    ("active_params", profile.active_b[1], "catalog"),
                    ("total_params", profile.total_b[1], "catalog"),
                    ("gpu", "H100", "assumed"),
                    ("gpus", hi.gpu_count, "assumed"),
                    ("batch", ECO_BATCH, "assumed"),
                    ("pue", (eco.pue[0] + eco.pue[2]) / 2, "provider"),
                    ("wue_onsite", (eco.wue_onsite[0] + eco.wue_onsite[2]) / 2, "provider"),
                    ("wue_offsite", mix.wue_offsite_l_per_kwh, "zone"),
                ],
            ),
        ),
    )


def _fitting_precision(
    total_b: float, precision: str, gpu: GpuSpec, gpu_count: int, warns: list[str]
) -> str:
    """The weights' precision, or a smaller one when the declared GPUs cannot hold them."""
    room = gpu_count * gpu.memory_gb
    if total_b * bytes_per_param(precision) <= room:
        return precision
    for smaller in _FIT_PRECISIONS:
        if total_b * bytes_per_param(smaller) <= room:
            warns.append(
                f"deployment-precision: {total_b:g}B parameters do not fit {gpu_count} x "
                f"{gpu.kind} in {precision}; {smaller} weights assumed"
            )
            return smaller
    warns.append(f"deployment-memory: {total_b:g}B parameters do not fit {gpu_count} x {gpu.kind}")
    return precision


def _decoder_loads(
    profile: ModelProfile,
    gpu: GpuSpec,
    gpu_count: int | None,
    batch: float | None,
    precision: str,
    warns: list[str],
) -> tuple[tuple[Load, ...], tuple[tuple[int, int], ...], tuple[tuple[Load, Load], ...]]:
    """The central load and both parameter corners (evaluated in full), and both ends of
    the concurrency and KV-cache spans (which change decode coefficients only)."""
    fitted: dict[int, tuple[int, str]] = {}

    def footprint(i: int) -> tuple[int, str]:
        """(GPUs, precision) of parameter corner `i`: declared GPUs must hold the weights."""
        if i not in fitted:
            total = profile.total_b[i]
            g = gpu_count or gpus_needed(total, bytes_per_param(precision), gpu.memory_gb)
            fitted[i] = (g, _fitting_precision(total, precision, gpu, g, warns if i == 1 else []))
        return fitted[i]

    def load(i: int, end: int, kv: float = 1.0) -> Load:
        """Parameter corner `i` at concurrency `end` (0 low, 1 central, 2 high) of its
        replica, or at the declared batch."""
        g, prec = footprint(i)
        return decoder_load(
            active_b=profile.active_b[i],
            total_b=profile.total_b[i],
            weight_bytes=bytes_per_param(prec),
            gpu=gpu,
            gpu_count=g,
            batch=batch if batch is not None else serving.concurrency(g)[end],
            kv_scale=kv,
        )

    central = load(1, 1)
    loads: tuple[Load, ...] = (central,)
    dims: tuple[tuple[int, int], ...] = ()
    if profile.active_b[0] != profile.active_b[2] or profile.total_b[0] != profile.total_b[2]:
        loads, dims = (central, load(0, 1), load(2, 1)), ((1, 2),)
    decode: list[tuple[Load, Load]] = []
    if batch is None:
        decode.append((load(1, 0), load(1, 2)))
    if not profile.open_weights:  # attention design not published
        kv = serving.KV_CACHE_SCALE
        decode.append((load(1, 1, kv=kv.lo), load(1, 1, kv=kv.hi)))
    return loads, dims, tuple(decode)


def _encoder_loads(
    profile: ModelProfile, gpu: GpuSpec, gpu_count: int | None, batch: float | None
) -> tuple[tuple[Load, ...], tuple[tuple[int, int], ...]]:
    """The central load (first) and both ends of each uncertain assumption, all in full:
    an encoder's fixed pass cost changes every coefficient."""
    batches = Span.exact(batch) if batch is not None else serving.ENCODER_BATCH
    call = serving.ENCODER_CALL_S if batches.hi <= 1 else serving.ENCODER_BATCHED_PASS_S
    host = serving.ENCODER_HOST_W

    def load(i: int, b: float, call_s: float, host_w: float) -> Load:
        return encoder_load(
            params_b=profile.active_b[i],
            gpu=gpu,
            gpu_count=gpu_count or 1,
            batch=b,
            call_s=call_s,
            host_w=host_w,
        )

    central = load(1, batches.mid, call.mid, host.mid)
    loads = [
        central,
        load(1, batches.mid, call.lo, host.lo),
        load(1, batches.mid, call.hi, host.hi),
    ]
    dims = [(1, 2)]
    if profile.active_b[0] != profile.active_b[2]:
        loads += [
            load(0, batches.mid, call.mid, host.mid),
            load(2, batches.mid, call.mid, host.mid),
        ]
        dims.append((len(loads) - 2, len(loads) - 1))
    if batch is None:
        loads += [load(1, batches.lo, call.mid, host.mid), load(1, batches.hi, call.mid, host.mid)]
        dims.append((len(loads) - 2, len(loads) - 1))
    return tuple(loads), tuple(dims)


def _sq(widths: tuple[float, float]) -> tuple[float, float]:
    return widths[0] * widths[0], widths[1] * widths[1]


@lru_cache(maxsize=4096)
def _plan(
    model: str,
    provider: str | None,
    zone: str | None,
    hw: tuple[tuple[str, Any], ...],
    ov: Overrides | None,
    compat: bool,
    single_pass: bool,
) -> _Plan | _CompatPlan:
    ov = ov or Overrides()
    provider_name = provider if provider is not None else ov.provider
    prefer = resolve_provider(provider_name)[0].catalog if provider_name else ()
    profile, model_warns = resolve(ov.model or model, prefer)
    defaults, provider_warns = _provider_for(profile, provider_name)
    warns = [*model_warns, *provider_warns]
    mix = resolve_zone(zone if zone is not None else (ov.zone or defaults.zone))
    warns.extend(f"electricity-mix: {w}" for w in mix.warnings)
    declared = ov.active_params_b is not None or ov.total_params_b is not None
    if declared:
        profile = custom_profile(profile, _pair(ov.active_params_b), _pair(ov.total_params_b))
    if compat:
        return _compat_plan(profile, defaults, mix, warns, declared)
    hwd = _hardware(hw)
    gpu: GpuSpec = hwd.get("gpu") or resolve_gpu(ov.gpu or REFERENCE_GPU.kind)
    gpu_count: int | None = hwd.get("gpu_count") or ov.gpu_count
    batch: int | None = hwd.get("batch_size") or ov.batch_size
    precision = hwd.get("precision") or ov.precision or profile.precision or "bf16"
    # An encoder, or any model called for embeddings: one forward pass, no decoding.
    encoder = profile.kind == "encoder" or single_pass
    decode: tuple[tuple[Load, Load], ...] = ()
    if encoder:
        loads, dims = _encoder_loads(profile, gpu, gpu_count, batch)
        error = serving.MODEL_ERROR_ENCODER
    else:
        loads, dims, decode = _decoder_loads(profile, gpu, gpu_count, batch, precision, warns)
        errors = (
            serving.MODEL_ERROR_REFERENCE_GPU
            if gpu.kind == REFERENCE_GPU.kind
            else serving.MODEL_ERROR_OTHER_GPU
        )
        error = errors[batch is not None]
    central = loads[0]
    decode_dims = tuple(decode_ends(central, lo, hi) for lo, hi in decode)
    measured = None
    if ov.measured_wh_per_output_token is not None:
        measured = (
            ov.measured_wh_per_output_token * 3600.0,
            (ov.measured_wh_per_input_token or 0.0) * 3600.0,
        )
        error = serving.MODEL_ERROR_MEASURED
        quality = "measured"
    else:
        quality = _quality(profile, declared)

    pue = Span(*defaults.pue) if ov.pue is None else Span.exact(ov.pue)
    wue = Span(*defaults.wue_onsite) if ov.wue_onsite is None else Span.exact(ov.wue_onsite)
    host_share = serving.HOST_SHARE
    idle = serving.IDLE_SHARE
    site = [(0.0, 0.0)]
    if measured is None:  # a measured IT energy already includes the host; idle is excluded
        host_ratio = Span(*(h / (1.0 - h) for h in host_share))
        site = [host_ratio.factor_widths(), idle.factor_widths()]
    woff = mix.wue_offsite_l_per_kwh
    water_span = Span(wue.lo + pue.mid * woff, wue.mid + pue.mid * woff, wue.hi + pue.mid * woff)
    water_w = math.exp(max(water_span.log_widths()))
    emb_w = math.exp(max(serving.embodied_widths()))
    life_s = serving.LIFETIME_YEARS.mid * 365 * 24 * 3600
    emb_per_gpu_s = (
        (gpu.embodied_kgco2e + serving.SERVER_EMBODIED_KGCO2E_PER_GPU)
        * 1e3
        / (life_s * serving.SERVICE_SHARE.mid)
    )
    market, market_source = _market(ov, defaults)
    h_mid = host_share.mid

    def origin(is_declared: object, otherwise: str = "assumed") -> str:
        return "declared" if is_declared is not None and is_declared is not False else otherwise

    params_origin = "declared" if declared else ("assumed" if quality == "fallback" else "catalog")
    applied: list[tuple[str, float | str, str]] = [
        ("active_params", profile.active_b[1], params_origin),
        ("total_params", profile.total_b[1], params_origin),
        (
            "precision",
            precision,
            origin(
                hwd.get("precision") or ov.precision, "catalog" if profile.precision else "assumed"
            ),
        ),
        ("gpu", gpu.kind, origin(hwd.get("gpu") or ov.gpu)),
        ("gpus", central.gpu_count, origin(gpu_count)),
        ("batch", central.batch, origin(batch)),
    ]
    if measured is not None:
        applied += [
            ("measured_out", ov.measured_wh_per_output_token or 0.0, "declared"),
            ("measured_in", ov.measured_wh_per_input_token or 0.0, "declared"),
        ]
    applied += [
        ("pue", pue.mid, origin(ov.pue, "provider")),
        ("wue_onsite", wue.mid, origin(ov.wue_onsite, "provider")),
        ("wue_offsite", woff, "zone"),
    ]
    if market is not None:
        applied.append(("market", market, origin(ov.market_gco2e_per_kwh, "supplier")))
    return _Plan(
        loads=loads,
        dims=dims,
        decode_dims=decode_dims,
        with_ends=loads + tuple(end for pair in decode for end in pair),
        full_dims=dims
        + tuple((len(loads) + 2 * k, len(loads) + 2 * k + 1) for k in range(len(decode))),
        decode_cap=min((d.cap_ctx for d in decode_dims), default=math.inf),
        err2=_sq(Span(1.0, error, error * error).log_widths()),
        site2=(sum(d * d for d, _ in site), sum(u * u for _, u in site)),
        pue2=_sq(pue.log_widths()),
        host=0.0 if measured else h_mid / (1.0 - h_mid),
        idle=0.0 if measured else idle.mid,
        pue=pue.mid,
        wue_onsite=wue.mid,
        wue_offsite=woff,
        water_w=water_w,
        emb_per_gpu_j=emb_per_gpu_s / (gpu.tdp_w * serving.AVG_GPU_POWER_FRACTION),
        emb_w=emb_w,
        measured=measured,
        encoder=encoder,
        hidden_reasoning=profile.hidden_reasoning and not encoder,
        zone=mix.zone,
        grid=mix.gco2e_per_kwh,
        market=market,
        market_source=market_source,
        model_id=profile.model_id,
        quality=quality,
        method=METHOD,
        warnings=tuple(warns),
        assumptions=Assumptions(
            provider=defaults.key,
            gpu=gpu.kind,
            gpu_count=central.gpu_count,
            batch_size=central.batch,
            precision=precision,
            pue=pue.mid,
            wue_onsite_l_per_kwh=wue.mid,
            wue_offsite_l_per_kwh=woff,
            host_share=0.0 if measured else h_mid,
            idle_share=0.0 if measured else idle.mid,
            active_params_b=Range(*_vmm(profile.active_b)),
            total_params_b=Range(*_vmm(profile.total_b)),
            factors=factors.encode(defaults.key, applied),
        ),
    )


def _market(ov: Overrides, defaults: ProviderDefaults) -> tuple[float | None, str | None]:
    if ov.market_gco2e_per_kwh is not None:
        return ov.market_gco2e_per_kwh, DECLARED_MARKET_SOURCE
    if defaults.market is not None:
        m = defaults.market
        return m.gco2e_per_kwh, f"supplier-specific ({defaults.key}, {m.year}): {m.source}"
    return None, None


def _vmm(t: tuple[float, float, float]) -> tuple[float, float, float]:
    return (t[1], t[0], t[2])


def _pair(spec: float | tuple[float, float] | None) -> tuple[float, float] | None:
    if spec is None:
        return None
    if isinstance(spec, tuple):
        return spec
    return (spec, spec)


def _tokens(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise InvalidArgumentError(f"{name} must be a non-negative integer, got {value!r}")
    if value < 0:
        raise InvalidArgumentError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise InvalidArgumentError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return float(value)


def estimate(
    model: str,
    *,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cached_input_tokens: int = 0,
    reasoning_tokens: int = 0,
    latency_s: float | None = None,
    ttft_s: float | None = None,
    kind: str = "chat",
    provider: str | None = None,
    zone: str | None = None,
    hardware: Mapping[str, Any] | None = None,
    overrides: Overrides | None = None,
    grid_intensity: float | None = None,
    ecologits_compat: bool = False,
) -> Impacts:
    """Energy, emissions and water of one LLM call (see docs/methodology.md).

    Token counts follow OpenAI: `cached_input_tokens` is part of `input_tokens`,
    `reasoning_tokens` part of `output_tokens` (inconsistent values are clamped, with a
    warning). The Wattgate estimate depends on tokens, model and deployment; a measured
    `latency_s` and `ttft_s` are validated and only used by `ecologits_compat=True` (which
    caps the modelled time with the latency, as EcoLogits does). Unknown models never
    raise; invalid arguments raise `EstimatorError`.
    """
    if type(model) is not str:
        raise InvalidArgumentError(f"model must be a string, got {model!r}")
    # Fast paths first: plain ints, floats and None are what the proxy passes.
    n_in = (
        input_tokens
        if type(input_tokens) is int and input_tokens >= 0
        else _tokens("input_tokens", input_tokens)
    )
    n_out = (
        output_tokens
        if type(output_tokens) is int and output_tokens >= 0
        else _tokens("output_tokens", output_tokens)
    )
    n_cached = (
        cached_input_tokens
        if type(cached_input_tokens) is int and cached_input_tokens >= 0
        else _tokens("cached_input_tokens", cached_input_tokens)
    )
    n_reason = (
        reasoning_tokens
        if type(reasoning_tokens) is int and reasoning_tokens >= 0
        else _tokens("reasoning_tokens", reasoning_tokens)
    )
    latency = (
        latency_s
        if latency_s is None or (type(latency_s) is float and latency_s >= 0)
        else _seconds("latency_s", latency_s)
    )
    if ttft_s is not None and not (type(ttft_s) is float and ttft_s >= 0):
        _seconds("ttft_s", ttft_s)
    if kind not in KINDS:
        raise InvalidArgumentError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    if overrides is not None and type(overrides) is not Overrides:
        raise InvalidArgumentError(
            "overrides must be an Overrides instance (Overrides.from_mapping)"
        )
    if grid_intensity is not None and (
        isinstance(grid_intensity, bool)
        or not isinstance(grid_intensity, int | float)
        or not grid_intensity >= 0
    ):
        raise InvalidArgumentError(f"grid_intensity must be a number >= 0, got {grid_intensity!r}")
    try:
        hw = tuple(sorted(hardware.items())) if hardware else ()
        plan = _plan(
            model, provider, zone, hw, overrides, bool(ecologits_compat), kind == "embedding"
        )
    except TypeError as exc:  # unhashable or unsortable hardware values
        raise InvalidArgumentError(f"invalid hardware mapping {hardware!r}: {exc}") from exc

    call_warnings: tuple[str, ...] = ()
    if n_cached > n_in:
        call_warnings += (f"usage-clamped: cached_input_tokens {n_cached} > input_tokens {n_in}",)
        n_cached = n_in
    if n_reason > n_out:
        call_warnings += (f"usage-clamped: reasoning_tokens {n_reason} > output_tokens {n_out}",)
        n_reason = n_out
    usage = (n_in, n_out, n_cached, n_reason, call_warnings)
    if type(plan) is _CompatPlan:
        return _compat_impacts(plan, usage, kind == "embedding", latency)
    return _impacts(plan, usage, kind == "embedding", grid_intensity)  # type: ignore[arg-type]


def _impacts(
    plan: _Plan,
    usage: tuple[int, int, int, int, tuple[str, ...]],
    embedding: bool,
    grid_intensity: float | None,
) -> Impacts:
    (
        loads,
        dims,
        decode_dims,
        with_ends,
        full_dims,
        decode_cap,
        (ed, eu),
        (sd, su),
        (pd, pu),
        host,
        idle,
        pue,
        wue_on,
        wue_off,
        water_w,
        emb_per_gpu_j,
        emb_w,
        measured,
        encoder,
        hidden_reasoning,
        zone,
        static_grid,
        market,
        market_source,
        model_id,
        quality,
        method,
        warnings,
        assumptions,
    ) = plan
    n_in, n_out, n_cached, n_reason, call_warnings = usage
    out_e = 0 if embedding or encoder else n_out
    up2, down2 = eu, ed  # model error, then this call's spread over the coefficient assumptions
    hidden = hidden_reasoning and n_reason == 0 and out_e > 0
    if hidden:  # the count holds the answer only: add the reasoning it left out
        reasoning = serving.HIDDEN_REASONING_PER_OUTPUT
        call_warnings += (_hidden_warning(reasoning),)
        ends = (round(out_e * (1.0 + reasoning.lo)), round(out_e * (1.0 + reasoning.hi)))
        out_e = round(out_e * (1.0 + reasoning.mid))
    if n_in == 0 and out_e == 0:
        acc_j = host_j = 0.0
    elif measured is not None:
        acc_j, host_j = out_e * measured[0] + n_in * measured[1], 0.0
        if hidden:
            lo, hi = ((n * measured[0] + n_in * measured[1]) / acc_j for n in ends)
            down2 += _log(lo) ** 2
            up2 += _log(hi) ** 2
    else:
        ctx = n_in + out_e * 0.5  # as in call_joules
        capped = ctx > decode_cap and out_e  # decode ends in full, not by difference
        gpu = call_joules(with_ends if capped else loads, n_in, n_cached, out_e)
        acc_j = gpu[0]
        host_j = acc_j * host + loads[0].host_call
        if hidden:
            lo, hi = (call_joules(loads[:1], n_in, n_cached, n)[0] / acc_j for n in ends)
            down2 += _log(lo) ** 2
            up2 += _log(hi) ** 2
        if acc_j > 0.0 and (dims or decode_dims):
            inv = 1.0 / acc_j
            if encoder:  # a fixed host part per call: compare the active IT energy
                inv = 1.0 / (acc_j + host_j)
                h1 = 1.0 + host
                gpu = [g * h1 + load.host_call for g, load in zip(gpu, loads, strict=True)]
            # host and idle scale with the GPU energy: its ratio suffices. Each assumption's
            # two ends, as multiples of the central value:
            ends = []
            for i, j in full_dims if capped else dims:
                ends.append((gpu[i] * inv, gpu[j] * inv))
            if decode_dims and not capped:
                kv_tokens = out_e * ctx
                for d_out_lo, d_kv_lo, d_out_hi, d_kv_hi, _ in decode_dims:
                    ends.append(
                        (
                            1.0 + (out_e * d_out_lo + kv_tokens * d_kv_lo) * inv,
                            1.0 + (out_e * d_out_hi + kv_tokens * d_kv_hi) * inv,
                        )
                    )
            for a, b in ends:
                if a > b:
                    a, b = b, a
                if a < 1.0:
                    x = _log(a)
                    down2 += x * x
                if b > 1.0:
                    x = _log(b)
                    up2 += x * x
    acc_wh = acc_j / 3600.0
    active_wh = acc_wh + host_j / 3600.0
    idle_wh = active_wh * idle
    it_wh = active_wh + idle_wh
    energy = it_wh * pue
    it_up, it_down = up2 + su, down2 + sd
    up, down = _exp(_sqrt(it_up + pu)), _exp(-_sqrt(it_down + pd))  # facility energy
    if grid_intensity is None:
        grid, grid_source = static_grid, STATIC_SOURCE
    else:
        grid, grid_source = float(grid_intensity), LIVE_SOURCE
    k = grid / 1000.0
    op = energy * k
    emb = acc_j * emb_per_gpu_j
    onsite = it_wh * wue_on
    water = onsite + energy * wue_off
    return new_impacts(
        _tnew(Range, (energy, energy * down, energy * up)),
        (down2, up2, it_down, it_up),
        _tnew(Range, (op + emb, (op + emb / emb_w) * down, (op + emb * emb_w) * up)),
        op,
        emb,
        None if market is None else energy * market / 1000.0 + emb,
        market_source,
        _tnew(Range, (water, water * down / water_w, water * up * water_w)),
        onsite,
        water - onsite,
        zone,
        grid,
        grid_source,
        method,
        quality,
        model_id,
        warnings + call_warnings if call_warnings else warnings,
        _tnew(Breakdown, (acc_wh, host_j / 3600.0, idle_wh, energy - it_wh)),
        n_in,
        n_out,
        n_cached,
        n_reason,
        assumptions,
    )


_log, _exp, _sqrt = math.log, math.exp, math.sqrt


def _hidden_warning(per_output: Span) -> str:
    return (
        "reasoning-imputed: the usage reports no reasoning tokens for a model that always "
        f"reasons and hides its reasoning; {per_output.mid:g} reasoning tokens per output token "
        f"assumed ({per_output.lo:g}-{per_output.hi:g})"
    )


def _compat_impacts(
    plan: _CompatPlan,
    usage: tuple[int, int, int, int, tuple[str, ...]],
    embedding: bool,
    latency: float | None,
) -> Impacts:
    """EcoLogits 0.11.3 `llm_impacts`: output tokens only; the measured latency caps the
    modelled time; value = (min + max) / 2, field by field."""
    n_in, n_out, n_cached, n_reason, call_warnings = usage
    out_e = 0 if embedding else n_out
    cap = _INF if latency is None else latency
    empty = n_in == 0 and out_e == 0
    res = []
    for e_out, t_tok, ttft0, srv_w, emb_gps, pue, wue_factor, _ in plan.ends:
        dt = 0.0 if empty else ttft0 + out_e * t_tok
        dt = cap if cap < dt else dt
        acc_wh = out_e * e_out / 3600.0
        srv_wh = dt * srv_w / 3600.0
        it_wh = acc_wh + srv_wh
        res.append((it_wh * pue, acc_wh, srv_wh, it_wh, it_wh * wue_factor, dt * emb_gps))
    (e0, acc0, srv0, it0, w0, emb0), (e1, acc1, srv1, it1, w1, emb1) = res[0], res[-1]
    e, acc, srv = (e0 + e1) / 2.0, (acc0 + acc1) / 2.0, (srv0 + srv1) / 2.0
    it, water, emb = (it0 + it1) / 2.0, (w0 + w1) / 2.0, (emb0 + emb1) / 2.0
    k = plan.grid / 1000.0
    op = e * k
    onsite = it * plan.assumptions.wue_onsite_l_per_kwh
    return new_impacts(
        _tnew(Range, (e, e0, e1)),
        (_log2(acc, acc0), _log2(acc1, acc), _log2(it, it0), _log2(it1, it)),
        _tnew(Range, (op + emb, e0 * k + emb0, e1 * k + emb1)),
        op,
        emb,
        None,
        None,
        _tnew(Range, (water, w0, w1)),
        onsite,
        water - onsite,
        plan.zone,
        plan.grid,
        STATIC_SOURCE,
        COMPAT_METHOD,
        plan.quality,
        plan.model_id,
        plan.warnings + call_warnings if call_warnings else plan.warnings,
        _tnew(Breakdown, (acc, srv, 0.0, e - it)),
        n_in,
        n_out,
        n_cached,
        n_reason,
        plan.assumptions,
    )


def _log2(big: float, small: float) -> float:
    """(ln(big / small))², 0 for empty values: a range end as a squared log half-width."""
    if small <= 0.0 or big <= 0.0:
        return 0.0
    x = math.log(big / small)
    return x * x


_INF = float("inf")
_tnew = tuple.__new__  # NamedTuple construction without the Python-level __new__


def resolve_model(model: str, provider: str | None = None) -> str | None:
    """Catalog id a model name resolves to (None when it would use a fallback profile)."""
    prefer = resolve_provider(provider)[0].catalog if provider else ()
    return resolve(model, prefer)[0].model_id
