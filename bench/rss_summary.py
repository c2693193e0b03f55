"""Summarises bench/rss_bench.sh's rss.csv: per worker process (one per recycle) and for the
parent, the RSS range after the first quarter of its samples (start-up and first model
loads excluded) and its spread as a share of the maximum."""
import csv
import sys

rows = list(csv.DictReader(open(sys.argv[1])))
procs = {}
for r in rows:
    procs.setdefault((r["kind"], r["pid"]), []).append((int(r["rss_kib"]), int(r["images"])))
for (kind, pid), xs in sorted(procs.items(), key=lambda kv: kv[1][0][1]):
    warm = [v for v, _ in xs[len(xs) // 4:]]
    lo, hi = min(warm), max(warm)
    print(
        f"{kind} {pid}: images {xs[0][1]}..{xs[-1][1]}, {len(xs)} samples, first {xs[0][0] / 1024:.0f} MiB, "
        f"after warm-up {lo / 1024:.0f}..{hi / 1024:.0f} MiB (spread {100 * (hi - lo) / hi:.1f}%)"
    )
