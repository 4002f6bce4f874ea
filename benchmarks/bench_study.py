"""Benchmark: the demo (synthetic LLTO study written, then analysed by ``tracerdiff run``).

Prints JSON lines. Target (issue 6): ``make demo`` in < 120 s on 2 cores. The
baseline, measured in the same run, is the paper-chain-only demo (models on the
printed inputs, no data), which costs the same imports and report writing; the
ratio says how much the data analyses add. ``--no-image`` leaves out the SIMS
image (boundary analysis and 2D simulation).

    .venv/bin/python benchmarks/bench_study.py [--repeat 2] [--no-image]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from tracerdiff.study.demo import run_demo


def _time(func, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-image", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = _time(lambda: run_demo(Path(tmp) / "chain", quiet=True, paper_only=True), args.repeat)
        full = _time(lambda: run_demo(Path(tmp) / "full", quiet=True, image=not args.no_image), args.repeat)
    b, f = statistics.median(base), statistics.median(full)
    print(json.dumps({"benchmark": "paper_chain_demo", "seconds": round(b, 3)}))
    print(json.dumps({"benchmark": "demo" + ("_no_image" if args.no_image else ""), "seconds": round(f, 3),
                      "baseline": "paper_chain_demo", "ratio": round(f / b, 2), "target_seconds": 120,
                      "meets_target": f < 120}))


if __name__ == "__main__":
    main()
