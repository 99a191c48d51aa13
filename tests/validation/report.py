"""Print the validation tables of docs/methodology.md, from the code itself.

    .venv/bin/python -m tests.validation.report

The calibration table (the ML.ENERGY points the decode fit uses) and the published-cases
table, with EcoLogits 0.11.3's ratio beside ours (its formulas, as in
`estimate(..., ecologits_compat=True)`), then the aggregate figures of both.
"""

from __future__ import annotations

from tests.unit.estimators.test_calibration import ML_ENERGY, gpu_joules_per_output_token
from tests.validation.harness import evaluate, evaluate_ecologits, load_cases, summarise, table

SUMMARY_HEAD = (
    "| estimator | energy cases | typical factor | within 2x | in window | "
    "in range | median max/min |\n|---|---:|---:|---:|---:|---:|---:|"
)


def calibration_table() -> str:
    lines = ["| case | published (ML.ENERGY v3), J | Wattgate, J | error |", "|---|---:|---:|---:|"]
    for model, gpus, batch, ref in ML_ENERGY:
        ours = gpu_joules_per_output_token(model, gpus, batch)
        name = model.split("/")[-1].replace("-Instruct", "")
        lines.append(
            f"| {name}, {gpus}xH100, batch {batch} | {ref:.3f} | {ours:.3f} | "
            f"{ours / ref - 1:+.1%} |"
        )
    return "\n".join(lines)


def main() -> None:
    print("GPU energy over output tokens (500 in / 500 out, provider vllm)\n")
    print(calibration_table())
    cases = load_cases()
    ours = [evaluate(c) for c in cases]
    eco = [evaluate_ecologits(c) for c in cases]
    print("\nPublished cases\n")
    print(table(ours, {r.case.id: r.ratio for r in eco}, "EcoLogits 0.11.3"))
    print("\n" + SUMMARY_HEAD)
    print(summarise(ours).to_row("Wattgate"))
    print(summarise(eco).to_row("EcoLogits 0.11.3 formulas"))


if __name__ == "__main__":
    main()
