"""What an fsync before every answer would cost: fdatasync latency of a usage-journal append.

Appends one journal-sized line (a real usage row, encoded as the journal does) to a file in
DIRECTORY and times `os.fdatasync` after each, `--count` times, one every `--gap-ms`.
Prints p50, p90, p99 and max in milliseconds. Run it on the volume that will hold
`WATTGATE_SPOOL_PATH`.

    .venv/bin/python bench/journal_sync.py [DIRECTORY] [--count 300] [--gap-ms 10]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from writer_rate import make_event  # bench/writer_rate.py, beside this script

from proxy.store.journal import encode_row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", nargs="?", default=tempfile.gettempdir())
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--gap-ms", type=float, default=10.0, help="pause between appends")
    args = parser.parse_args()
    line = encode_row(make_event(0).to_row())
    path = Path(args.directory) / f"wattgate-sync-bench-{os.getpid()}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    times: list[float] = []
    try:
        for _ in range(args.count):
            os.write(fd, line)
            start = time.perf_counter()
            os.fdatasync(fd)
            times.append((time.perf_counter() - start) * 1000)
            time.sleep(args.gap_ms / 1000)
    finally:
        os.close(fd)
        path.unlink()
    times.sort()

    def at(q: float) -> float:
        return times[min(len(times) - 1, int(q * len(times)))]

    print(f"journal line    {len(line)} bytes, {args.count} appends in {args.directory}")
    print(f"fdatasync ms    p50 {at(0.5):.3f}  p90 {at(0.9):.3f}  p99 {at(0.99):.3f}  "
          f"max {times[-1]:.3f}")


if __name__ == "__main__":
    main()
