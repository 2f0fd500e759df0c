#!/usr/bin/env python3
"""Simulate memkv 2 merge policies (src/README, "memkv 2", "Merge policy").

The index receives a stream of freezes of B keys each (B: the freeze
threshold).  Runs are merged by a size-tiered policy with merge factor T:
runs fall into classes by size (class c holds runs of T^c .. T^(c+1) - 1
freeze batches); a class that holds T runs is merged into one run of the
next class.  If the index still has more than K runs, the smallest class
that holds at least two runs is merged whole (this keeps the run count
bounded without the write amplification of always merging the smallest
runs, which the simulation also shows with --naive).

Printed per case:
  merge WA    keys rewritten by merges per key frozen (the freeze's own
              write of each key comes on top: 1 more);
  max/avg     the most, and the average, number of runs after a freeze;
  biggest     the largest merge's output as a fraction of the index at
              that moment (transient extra space if merges were not
              incremental).

Usage: python3 bench/merge_sim.py [--naive]
"""
import math
import sys


def size_class(size, T):
    return int(math.floor(math.log(size, T) + 1e-9))


def pick(runs, T, K, naive):
    """The runs to merge next, or None."""
    classes = {}
    for s in runs:
        classes.setdefault(size_class(s, T), []).append(s)
    full = [c for c, ss in classes.items() if len(ss) >= T]
    if full:
        return sorted(classes[min(full)])[:T]
    if len(runs) <= K:
        return None
    if naive:
        ss = sorted(runs)
        return ss[:max(2, len(runs) - K + 1)]
    return classes[min(c for c, ss in classes.items() if len(ss) >= 2)]


def simulate(nbatches, T, K, initial=0, naive=False):
    runs = [initial] if initial else []
    written = 0
    maxruns = 0
    sumruns = 0
    biggest = 0.0
    for _ in range(nbatches):
        runs.append(1)
        while True:
            p = pick(runs, T, K, naive)
            if p is None:
                break
            for s in p:
                runs.remove(s)
            out = sum(p)
            runs.append(out)
            written += out
            biggest = max(biggest, out / sum(runs))
        maxruns = max(maxruns, len(runs))
        sumruns += len(runs)
    return written / nbatches, maxruns, sumruns / nbatches, biggest


def main():
    naive = "--naive" in sys.argv
    K = 10
    print(f"run budget K = {K}{' (naive budget rule)' if naive else ''}")
    print("  N/B    T   merge WA  max runs  avg runs  biggest merge")
    for nb in (30, 200, 1000, 10000):
        for T in (4, 6, 8, 10):
            wa, mx, av, big = simulate(nb, T, K, naive=naive)
            print(f"{nb:6d} {T:4d}   {wa:7.2f}  {mx:8d}  {av:8.1f}  {big:12.2f}")
    print("without a budget (K unbounded):")
    for nb in (200, 1000):
        for T in (4, 6, 8):
            wa, mx, av, big = simulate(nb, T, 10 ** 9)
            print(f"{nb:6d} {T:4d}   {wa:7.2f}  {mx:8d}  {av:8.1f}  {big:12.2f}")
    print("T = 6, budget K varied:")
    for K2 in (6, 8, 10, 14):
        for nb in (200, 1000):
            wa, mx, av, big = simulate(nb, 6, K2)
            print(f"  K={K2:2d} N/B={nb:5d}: merge WA {wa:.2f}, "
                  f"max runs {mx}, avg {av:.1f}")
    print("issue 15 benches, T = 6:")
    wa, mx, av, big = simulate(5, 6, K, initial=30)
    print(f"  6M-key build + 5 freezes of 200K: merge WA {wa:.2f}, max runs {mx}")
    wa, mx, av, big = simulate(200, 6, K, initial=10)
    print(f"  1M-key build + 20M inserts frozen every 100K: merge WA {wa:.2f}, "
          f"max runs {mx}, avg {av:.1f}")
    wa, mx, av, big = simulate(20, 6, K, initial=1)
    print(f"  1M-key build + 20M inserts frozen every 1M: merge WA {wa:.2f}, "
          f"max runs {mx}, avg {av:.1f}")


if __name__ == "__main__":
    main()
