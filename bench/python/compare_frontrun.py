"""Runs per second of racelab and frontrun 0.7.0 on the same Python bounded buffer
(bounded_buffer.py), in the same process, in interleaved rounds; prints the medians and the ratio.
Not part of CI: run it by hand (README, Performance):

    python3 -m venv /tmp/bench && /tmp/bench/bin/pip install ./python frontrun==0.7.0
    PATH=/tmp/bench/bin:$PATH frontrun python bench/python/compare_frontrun.py [--runs 300] [--rounds 5]

(frontrun's explorers run only under its `frontrun` wrapper, which patches locks.)

Both sample random interleavings between bytecodes (racelab `granularity="opcode"`,
frontrun `strategy="random"`); a run is one execution of the program.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bounded_buffer  # noqa: E402
import frontrun  # noqa: E402
import racelab  # noqa: E402


def racelab_round(runs, seed):
    start = time.perf_counter()
    report = racelab.check(bounded_buffer.main, strategy="random", runs=runs, seed=seed, granularity="opcode")
    elapsed = time.perf_counter() - start
    assert report.passed and report.runs == runs, str(report)
    return runs / elapsed


def frontrun_round(runs, seed):
    start = time.perf_counter()
    result = frontrun.explore(bounded_buffer.setup,
                              [bounded_buffer.producer, bounded_buffer.producer,
                               bounded_buffer.consumer, bounded_buffer.consumer],
                              bounded_buffer.invariant, strategy="random", max_attempts=runs, seed=seed,
                              reproduce_on_failure=0)
    elapsed = time.perf_counter() - start
    done = getattr(result, "num_explored", None) or runs
    assert getattr(result, "property_holds", True), result
    return done / elapsed, done


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    ours, theirs = [], []
    for r in range(args.rounds):
        ours.append(racelab_round(args.runs, r))
        rate, done = frontrun_round(args.runs, r)
        theirs.append(rate)
        print(f"round {r + 1}: racelab {ours[-1]:,.0f} runs/s, frontrun {rate:,.0f} runs/s ({done} runs)", flush=True)
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"median: racelab {a:,.0f} runs/s, frontrun {b:,.0f} runs/s, ratio {a / b:.1f}x "
          f"(Python {sys.version.split()[0]}, {args.rounds} interleaved rounds of {args.runs} runs)")


if __name__ == "__main__":
    main()
