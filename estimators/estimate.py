"""`estimate()`: compose catalog, hardware, grid and energy coefficients into `Impacts`.

Everything that depends only on the deployment (model, provider, zone, hardware,
overrides) is resolved once into a cached `_Plan`. A call then costs one token/time
evaluation per distinct parameter corner (one when the parameter count is exact) and a
few multiplications per uncertainty corner (min, central, max: band, PUE, WUE).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from estimators import ecologits_data
from estimators.catalog import ModelProfile, custom_profile, resolve
from estimators.energy import (
    DEFAULT_BATCH,
    Scenario,
    ecologits_scenario,
    wattgate_scenario,
)
from estimators.errors import InvalidArgumentError
from estimators.grid import LIVE_SOURCE, STATIC_SOURCE, resolve_zone
from estimators.hardware import PROVIDERS, GpuSpec, ProviderDefaults, resolve_gpu, resolve_provider
from estimators.overrides import Overrides
from estimators.types import Assumptions, Breakdown, Impacts, Range, new_impacts

METHOD_VERSION = "wattgate-2"
METHOD = f"{METHOD_VERSION} (ecologits-data {ecologits_data.DATA_VERSION})"
COMPAT_METHOD = f"ecologits-compat (ecologits {ecologits_data.DATA_VERSION} formulas)"
KINDS = frozenset({"chat", "completion", "embedding", "responses", "messages"})
_HARDWARE_KEYS = frozenset({"gpu", "gpu_count", "batch_size"})

# Model-error bands on IT energy: (low, high) multipliers around the central estimate.
BAND_MEASURED = (0.9, 1.1)
BAND_DECLARED_HW = (0.8, 1.25)  # batch and GPU declared: ML.ENERGY fit residual + workload mix
BAND_DEFAULT_HW = (0.7, 1.5)  # batch assumed (64): +-1 doubling of the batch
BAND_FALLBACK = (0.5, 2.0)


class _Load(NamedTuple):
    """What tokens and time cost in one parameter corner (IT energy, before the band)."""

    e_out: float  # J per output token, excluding the context-length term
    e_kv: float  # J per output token per token of context
    e_in: float  # J per uncached input token
    e_cached: float  # J per cached input token
    t_tok: float  # s per output token
    t_pf: float  # s per uncached input token
    ttft0: float  # s, catalog time to first token
    measured_out: float  # J per output token of measured IT energy (0 = modelled)
    measured_in: float  # J per input token of measured IT energy


class _Corner(NamedTuple):
    """One uncertainty corner: which `_Load` it uses and the factors applied after it."""

    load: int  # index into `_Plan.loads`
    band: float  # model-error multiplier on IT energy
    srv_w: float  # W of server power allocated to the request (0 when energy is measured)
    emb_gps: float  # g CO2e embodied per second of occupancy
    pue: float
    wue_factor: float  # L per kWh of IT energy


class _Plan(NamedTuple):
    loads: tuple[_Load, ...]  # distinct parameter corners
    corners: tuple[_Corner, ...]  # min, central, max; compatibility mode: min, max only
    compat: bool  # EcoLogits compatibility: output tokens only, value = (min + max) / 2
    zone: str
    grid: float  # static g CO2e/kWh of the zone
    market: float | None
    model_id: str | None
    quality: str
    method: str
    warnings: tuple[str, ...]
    assumptions: Assumptions


def _split(scenarios: tuple[Scenario, ...]) -> tuple[tuple[_Load, ...], tuple[_Corner, ...]]:
    """Scenarios -> distinct loads + corners, so equal parameter corners (an exact parameter
    count) are evaluated once per call; the arithmetic per corner is unchanged."""
    loads: list[_Load] = []
    corners = []
    for sc in scenarios:
        load = _Load._make(getattr(sc, f) for f in _Load._fields)
        if load not in loads:
            loads.append(load)
        srv_w = 0.0 if sc.measured_out else sc.srv_w
        corners.append(
            _Corner(loads.index(load), sc.band, srv_w, sc.emb_gps, sc.pue, sc.wue_factor)
        )
    return tuple(loads), tuple(corners)


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
        else:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(
                    f"hardware {key!r} must be an integer >= 1, got {value!r}"
                )
            out[key] = value
    return out


@lru_cache(maxsize=4096)
def _plan(
    model: str,
    provider: str | None,
    zone: str | None,
    hw: tuple[tuple[str, Any], ...],
    ov: Overrides | None,
    compat: bool,
) -> _Plan:
    ov = ov or Overrides()
    provider_name = provider if provider is not None else ov.provider
    prefer = resolve_provider(provider_name)[0].catalog if provider_name else ()
    profile, model_warns = resolve(ov.model or model, prefer)
    defaults, warns = _provider_for(profile, provider_name)
    warns = list(model_warns) + warns
    mix = resolve_zone(zone if zone is not None else (ov.zone or defaults.zone))
    warns.extend(f"electricity-mix: {w}" for w in mix.warnings)

    if compat:
        eco_defaults = PROVIDERS.get(profile.namespace, defaults)
        if profile.model_id is None or profile.eco_provider is None:
            warns.append(
                "ecologits-compat: model unknown to EcoLogits; its formulas applied anyway"
            )
        ends = []  # the mean (value) is taken per call, from these two
        for i in (0, 2):
            ends.append(
                ecologits_scenario(
                    active_b=profile.active_b[i],
                    total_b=profile.total_b[i],
                    pue=eco_defaults.pue[i],
                    wue_onsite=eco_defaults.wue_onsite[i],
                    wue_offsite=mix.wue_offsite_l_per_kwh,
                    tps=profile.tps,
                    ttft_s=profile.ttft_s,
                )
            )
        lo, hi = ends
        loads, corners = _split((lo, hi))
        return _Plan(
            loads=loads,
            corners=corners,
            compat=True,
            zone=mix.zone,
            grid=mix.gco2e_per_kwh,
            market=None,
            model_id=profile.model_id,
            quality="fallback"
            if profile.model_id is None
            else ("modelled-open-weights" if profile.open_weights else "modelled-closed"),
            method=COMPAT_METHOD,
            warnings=tuple(warns),
            assumptions=Assumptions(
                provider=eco_defaults.key,
                gpu="H100",
                gpu_count=hi.gpu_count,
                batch_size=DEFAULT_BATCH,
                pue=(eco_defaults.pue[0] + eco_defaults.pue[2]) / 2,
                wue_onsite_l_per_kwh=(eco_defaults.wue_onsite[0] + eco_defaults.wue_onsite[2]) / 2,
                wue_offsite_l_per_kwh=mix.wue_offsite_l_per_kwh,
                active_params_b=Range(*_vmm(profile.active_b)),
                total_params_b=Range(*_vmm(profile.total_b)),
            ),
        )

    if ov.active_params_b is not None or ov.total_params_b is not None:
        profile = custom_profile(profile, _pair(ov.active_params_b), _pair(ov.total_params_b))
    hwd = _hardware(hw)
    gpu: GpuSpec = hwd.get("gpu") or (resolve_gpu(ov.gpu) if ov.gpu else resolve_gpu("H100"))
    gpu_count: int | None = hwd.get("gpu_count") or ov.gpu_count
    batch: int | None = hwd.get("batch_size") or ov.batch_size
    measured = ov.measured_wh_per_output_token is not None
    if measured:
        quality, band = "measured", BAND_MEASURED
    elif profile.model_id is None and ov.active_params_b is None:
        quality, band = "fallback", BAND_FALLBACK
    else:
        quality = "modelled-open-weights" if profile.open_weights else "modelled-closed"
        band = BAND_DECLARED_HW if batch is not None else BAND_DEFAULT_HW
    batch = batch or DEFAULT_BATCH
    pue3 = (ov.pue,) * 3 if ov.pue is not None else defaults.pue
    wue3 = (ov.wue_onsite,) * 3 if ov.wue_onsite is not None else defaults.wue_onsite
    bands = (band[0], 1.0, band[1])
    scen = [
        wattgate_scenario(
            active_b=profile.active_b[i],
            total_b=profile.total_b[i],
            gpu=gpu,
            gpu_count=gpu_count,
            batch=batch,
            pue=pue3[i],
            wue_onsite=wue3[i],
            wue_offsite=mix.wue_offsite_l_per_kwh,
            band=bands[i],
            tps=profile.tps,
            ttft_s=profile.ttft_s,
            measured_out_wh=ov.measured_wh_per_output_token,
            measured_in_wh=ov.measured_wh_per_input_token,
        )
        for i in range(3)
    ]
    loads, corners = _split(tuple(scen))
    return _Plan(
        loads=loads,
        corners=corners,
        compat=False,
        zone=mix.zone,
        grid=mix.gco2e_per_kwh,
        market=ov.market_gco2e_per_kwh,
        model_id=profile.model_id,
        quality=quality,
        method=METHOD,
        warnings=tuple(warns),
        assumptions=Assumptions(
            provider=defaults.key,
            gpu=gpu.kind,
            gpu_count=scen[1].gpu_count,
            batch_size=batch,
            pue=pue3[1],
            wue_onsite_l_per_kwh=wue3[1],
            wue_offsite_l_per_kwh=mix.wue_offsite_l_per_kwh,
            active_params_b=Range(*_vmm(profile.active_b)),
            total_params_b=Range(*_vmm(profile.total_b)),
        ),
    )


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
    warning). Unknown models never raise; invalid arguments raise `EstimatorError`.
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
    ttft = (
        ttft_s
        if ttft_s is None or (type(ttft_s) is float and ttft_s >= 0)
        else _seconds("ttft_s", ttft_s)
    )
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
        plan = _plan(model, provider, zone, hw, overrides, bool(ecologits_compat))
    except TypeError as exc:  # unhashable or unsortable hardware values
        raise InvalidArgumentError(f"invalid hardware mapping {hardware!r}: {exc}") from exc

    call_warnings: tuple[str, ...] = ()
    if n_cached > n_in:
        call_warnings += (f"usage-clamped: cached_input_tokens {n_cached} > input_tokens {n_in}",)
        n_cached = n_in
    if n_reason > n_out:
        call_warnings += (f"usage-clamped: reasoning_tokens {n_reason} > output_tokens {n_out}",)
        n_reason = n_out
    embedding = kind == "embedding"
    out_e = 0 if embedding else n_out  # embeddings: prefill only
    (
        loads,
        corners,
        compat,
        zone_name,
        grid,
        market,
        model_id,
        quality,
        method,
        warnings,
        assumptions,
    ) = plan
    if compat:  # EcoLogits: output tokens only; the measured latency caps the modelled time
        if latency is None:
            latency = _INF
        n_unc = cached = 0
        ctx = 0.0
        ttft = None
        empty = False
    else:
        cached = n_cached
        n_unc = n_in - n_cached
        ctx = n_in + out_e * 0.5
        empty = n_in == 0 and out_e == 0

    # Accelerator joules and occupied seconds, once per distinct parameter corner.
    work = []
    for e_out, e_kv, e_in, e_cached, t_tok, t_pf, ttft0, m_out, m_in in loads:
        if m_out:
            acc_j = out_e * m_out + n_in * m_in
        else:
            acc_j = out_e * (e_out + e_kv * ctx) + n_unc * e_in + cached * e_cached
        if empty:
            dt = 0.0
        else:
            if ttft is not None:
                dt = ttft + out_e * t_tok
            elif embedding:
                dt = n_unc * t_pf
            else:
                dt = ttft0 + n_unc * t_pf + out_e * t_tok
            if latency is not None and latency < dt:
                dt = latency
        work.append((acc_j, dt))

    # (energy, accelerator, server, overhead, water, embodied) per uncertainty corner.
    res = []
    for i, band, srv_w, emb_gps, pue, wue_factor in corners:
        acc_j, dt = work[i]
        acc_wh = acc_j * band / 3600.0
        srv_wh = dt * srv_w * band / 3600.0
        it_wh = acc_wh + srv_wh
        energy = it_wh * pue
        res.append((energy, acc_wh, srv_wh, energy - it_wh, it_wh * wue_factor, dt * emb_gps))

    if compat:  # EcoLogits reports (min + max) / 2, field by field
        lo, hi = res
        e0, acc0, srv0, ovh0, w0, emb0 = lo
        e1, acc1, srv1, ovh1, w1, emb1 = hi
        e_mid, acc_mid, srv_mid = (e0 + e1) / 2.0, (acc0 + acc1) / 2.0, (srv0 + srv1) / 2.0
        ovh_mid, w_mid, emb_mid = (ovh0 + ovh1) / 2.0, (w0 + w1) / 2.0, (emb0 + emb1) / 2.0
    else:
        lo, (e_mid, acc_mid, srv_mid, ovh_mid, w_mid, emb_mid), hi = res
    if grid_intensity is not None and not compat:
        grid = float(grid_intensity)
        grid_source = LIVE_SOURCE
    else:
        grid_source = STATIC_SOURCE
    k = grid / 1000.0
    op = e_mid * k
    return new_impacts(
        _tnew(Range, (e_mid, lo[0], hi[0])),
        _tnew(Range, (op + emb_mid, lo[0] * k + lo[5], hi[0] * k + hi[5])),
        op,
        emb_mid,
        None if market is None else e_mid * market / 1000.0 + emb_mid,
        _tnew(Range, (w_mid, lo[4], hi[4])),
        zone_name,
        grid,
        grid_source,
        method,
        quality,
        model_id,
        warnings + call_warnings if call_warnings else warnings,
        _tnew(Breakdown, (acc_mid, srv_mid, ovh_mid)),
        n_in,
        n_out,
        n_cached,
        n_reason,
        assumptions,
    )


_INF = float("inf")
_tnew = tuple.__new__  # NamedTuple construction without the Python-level __new__


def resolve_model(model: str, provider: str | None = None) -> str | None:
    """Catalog id a model name resolves to (None when it would use a fallback profile)."""
    prefer = resolve_provider(provider)[0].catalog if provider else ()
    return resolve(model, prefer)[0].model_id
