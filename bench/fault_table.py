"""The fault table of docs/operations.md: runs the fault tests (tests/faults, real
`wattgate serve` processes) `--runs` times and sums what each fault did to the ledger.

    .venv/bin/python bench/fault_table.py --runs 3
    WATTGATE_TEST_PG_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/fault_table.py --runs 3          # SQLite and PostgreSQL

Each test appends its figures to a JSON-lines file (`WATTGATE_FAULT_REPORT`); this script
prints one markdown row per fault and database: runs, calls answered 2xx, streams cut by
a kill, calls refused, rows stored for those calls (rows out), rows lost, duplicates.
Exits 1 if a run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("calls_answered", "streams_cut", "calls_refused", "rows_out", "rows_lost",
           "duplicates")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "faults.jsonl"
        env = {**os.environ, "WATTGATE_FAULT_REPORT": str(report)}
        failed = 0
        for _ in range(args.runs):
            run = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/faults"],
                                 cwd=ROOT, env=env)
            failed += run.returncode != 0
        entries = [json.loads(line) for line in report.read_text().splitlines()]
    print(_table(entries))
    if failed:
        print(f"\n{failed} of {args.runs} runs failed")
    return 1 if failed else 0


def _table(entries: list[dict[str, object]]) -> str:
    sums: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for entry in entries:
        key = (str(entry["fault"]), str(entry["database"]).split("+")[0])
        sums[key]["runs"] += 1
        for column in COLUMNS:
            sums[key][column] += float(entry.get(column, 0))  # type: ignore[arg-type]
    lines = ["| fault | database | runs | calls answered 2xx | streams cut | calls refused "
             "| rows out | rows lost | duplicates |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for (fault, database), s in sorted(sums.items()):
        lines.append(f"| {fault} | {database} | {s['runs']:.0f} | {s['calls_answered']:,.0f} "
                     f"| {s['streams_cut']:,.0f} | {s['calls_refused']:,.0f} "
                     f"| {s['rows_out']:,.0f} | {s['rows_lost']:,.0f} "
                     f"| {s['duplicates']:,.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
