"""Import time of kugel's core beside httpx's, each in a fresh interpreter.

    python bench/import_time.py [--runs 15]

Prints the median wall time of ``import X`` over the runs (interleaved, so load on the machine
hits both alike), and the ratio. ``python -c pass`` is measured too and subtracted: the
interpreter's own start-up is not the library's cost.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

TARGETS = {
    "python": "pass",
    "httpx": "import httpx",
    "kugel core": "import kugel_common",
    "kugel + fastapi layer": "import kugel_common.fastapi",
}


def wall(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    for code in TARGETS.values():  # warm the file cache and the .pyc files
        wall(code)
    times: dict[str, list[float]] = {name: [] for name in TARGETS}
    for _ in range(runs):
        for name, code in TARGETS.items():
            times[name].append(wall(code))
    base = statistics.median(times["python"])
    cost = {name: (statistics.median(t) - base) * 1000 for name, t in times.items()}
    print(f"import time, median of {runs} fresh interpreters, start-up "
          f"({base * 1000:.0f} ms) subtracted")
    for name in TARGETS:
        if name != "python":
            print(f"  {name:22} {cost[name]:6.0f} ms   {cost[name] / cost['httpx']:.2f}x httpx")


if __name__ == "__main__":
    main()
