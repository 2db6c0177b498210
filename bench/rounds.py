#!/usr/bin/env python3
"""Summarises interleaved rounds (bench/lib.sh's measure_round) as ratios to each round's own floor.

    bench/rounds.py RESULTS            # a markdown table: per measurement and build, median (range)
    bench/rounds.py RESULTS --plain    # "mode label median min max cpu_median p99_median n" lines

RESULTS has one line a measurement: "round label mode rps cpu_us p99_ms", mode `floor` for the floor's
`GET /x`. A measurement's ratio is its req/s over the mean of its round's floors, so a host that drifts
between rounds moves the floor and armsim together; the median over the rounds is the figure, the range
shows how far one round can stray. Not a test: it prints and asserts nothing.
"""
import collections
import statistics
import sys

NAMES = {"poll": "poll GET", "post": "backup POST"}


def main(path, plain):
    floors = collections.defaultdict(list)
    rows = {}
    for line in open(path):
        rnd, label, mode, rps, cpu, p99 = line.split()
        got = (rnd, float(rps), float(cpu), float(p99))
        if mode == "floor":
            floors[rnd].append(got)
        else:
            rows.setdefault((mode, label), []).append(got)

    def ratios(got):
        return [rps / statistics.mean(f[1] for f in floors[rnd]) for rnd, rps, _, _ in got if floors[rnd]]

    if not plain:
        print("| measurement | build | throughput ÷ floor: median (range) "
              "| server CPU per request: median (range) | p99 median |")
        print("|---|---|---|---|---|")
    order = list(NAMES)
    for (mode, label), got in sorted(rows.items(), key=lambda kv: order.index(kv[0][0]) if kv[0][0] in order else len(order)):
        r, cpus, p99s = ratios(got), [g[2] for g in got], [g[3] for g in got]
        if not r:
            continue
        if plain:
            print(f"{mode} {label} {statistics.median(r):.2f} {min(r):.2f} {max(r):.2f} "
                  f"{statistics.median(cpus):.1f} {statistics.median(p99s):.2f} {len(r)}")
        else:
            print(f"| {NAMES.get(mode, mode)} | {label} | {statistics.median(r):.2f}× ({min(r):.2f}–{max(r):.2f}) "
                  f"| {statistics.median(cpus):.1f} µs ({min(cpus):.1f}–{max(cpus):.1f}) "
                  f"| {statistics.median(p99s):.2f} ms |")
    fl = [f for v in floors.values() for f in v]
    if fl and not plain:
        print(f"\nFloor over the rounds: {min(f[1] for f in fl):.0f}–{max(f[1] for f in fl):.0f} req/s, "
              f"{min(f[2] for f in fl):.1f}–{max(f[2] for f in fl):.1f} µs CPU per request.")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] != "--plain"):
        sys.exit("usage: bench/rounds.py RESULTS [--plain]")
    main(sys.argv[1], len(sys.argv) == 3)
