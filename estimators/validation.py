"""Print the validation tables of docs/methodology.md from the code itself.

    .venv/bin/python -m estimators.validation

Needs the `ecologits` package importable (for its own estimates); the estimator does not.
"""

from __future__ import annotations

import logging

from estimators import estimate
from estimators.energy import CALIBRATION_REQUEST

ML_ENERGY = [  # ML.ENERGY leaderboard v3 (vLLM, H100 SXM), GPU energy per output token, J
    ("meta-llama/Llama-3.1-8B-Instruct", 8.03, 1, 8, 0.455),
    ("meta-llama/Llama-3.1-8B-Instruct", 8.03, 1, 32, 0.165),
    ("meta-llama/Llama-3.1-8B-Instruct", 8.03, 1, 64, 0.119),
    ("meta-llama/Llama-3.1-8B-Instruct", 8.03, 1, 256, 0.077),
    ("meta-llama/Llama-3.1-70B-Instruct", 70.55, 4, 8, 3.76),
    ("meta-llama/Llama-3.1-70B-Instruct", 70.55, 4, 32, 1.21),
    ("meta-llama/Llama-3.1-70B-Instruct", 70.55, 4, 64, 0.797),
    ("meta-llama/Llama-3.1-70B-Instruct", 70.55, 4, 256, 0.479),
]
JEGHAM = [((100, 300), 0.42), ((1000, 1000), 1.21), ((10_000, 1500), 1.79)]  # GPT-4o, Wh/query


def _eco_gpu_j(params_b: float, batch: int) -> float:
    from ecologits.impacts.llm import compute_llm_impacts_dag

    dag = compute_llm_impacts_dag(
        model_active_parameter_count=params_b,
        model_total_parameter_count=params_b,
        output_token_count=1,
        request_latency=float("inf"),
        if_electricity_mix_adpe=0,
        if_electricity_mix_pe=0,
        if_electricity_mix_gwp=0,
        if_electricity_mix_wue=0,
        datacenter_pue=1.0,
        datacenter_wue=0,
        batch_size=batch,
    )
    return float(dag["gpu_energy"]) * float(dag["gpu_required_count"]) * 3.6e6


def main() -> None:
    from ecologits.tracers.utils import llm_impacts  # sets up ecologits' own logger class

    logging.getLogger("ecologits").setLevel(logging.ERROR)

    n_in, n_out = CALIBRATION_REQUEST
    print(f"GPU energy per output token, J (request {n_in} in / {n_out} out, provider=vllm)\n")
    print("| case | published (ML.ENERGY v3) | Wattgate | error | EcoLogits 0.11.3 | error |")
    print("|---|---:|---:|---:|---:|---:|")
    for model, params, gpus, batch, ref in ML_ENERGY:
        imp = estimate(
            model,
            input_tokens=n_in,
            output_tokens=n_out,
            provider="vllm",
            hardware={"gpu": "H100", "gpu_count": gpus, "batch_size": batch},
        )
        ours = imp.breakdown.accelerator_wh * 3600 / n_out
        eco = _eco_gpu_j(params, batch)
        name = model.split("/")[-1].replace("-Instruct", "")
        print(
            f"| {name}, {gpus}xH100, batch {batch} | {ref:.3f} | {ours:.3f} | "
            f"{ours / ref - 1:+.0%} | "
            f"{eco:.3f} | {eco / ref - 1:+.0%} |"
        )

    print("\nGPT-4o facility energy per query, Wh (provider defaults, no latency given)\n")
    print(
        "| case | published (Jegham et al. 2025) | Wattgate value [min-max] | error | "
        "EcoLogits 0.11.3 mean [min-max] | error |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for (i, o), ref in JEGHAM:
        imp = estimate("openai/gpt-4o", input_tokens=i, output_tokens=o)
        e = imp.energy_wh
        eco = llm_impacts("openai", "gpt-4o", o, float("inf")).energy.value
        em, elo, ehi = eco.mean * 1e3, eco.min * 1e3, eco.max * 1e3
        print(
            f"| GPT-4o {i} in / {o} out | {ref:.2f} | {e.value:.2f} [{e.min:.2f}-{e.max:.2f}] | "
            f"{e.value / ref - 1:+.0%} | {em:.2f} [{elo:.2f}-{ehi:.2f}] | {em / ref - 1:+.0%} |"
        )

    print("\nWorked example: estimate('openai/gpt-4o', input_tokens=100, output_tokens=300)\n")
    imp = estimate("openai/gpt-4o", input_tokens=100, output_tokens=300)
    a = imp.assumptions
    print(
        f"assumptions: {a.gpu_count}x{a.gpu}, batch {a.batch_size}, PUE {a.pue}, "
        f"WUE on-site {a.wue_onsite_l_per_kwh} L/kWh, off-site {a.wue_offsite_l_per_kwh} L/kWh, "
        f"active {a.active_params_b.value} B [{a.active_params_b.min}-{a.active_params_b.max}], "
        f"total {a.total_params_b.value} B"
    )
    print(imp.to_dict())


if __name__ == "__main__":
    main()
