"""Per-image timings of the long-lived worker with a reused model.

Run: .venv/bin/python blender_scripts/tests/bench_worker.py [MODEL.obj] [--images N]
Renders N images (varying camera and seed, same model) at 128 px / 16 spp and 224 px / 64 spp
through `entry.handle_request`, and prints mean render_seconds, setup_seconds and the wall time
per request (everything handle_request does, JSON included). The first request (model load)
is reported separately.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from request_builders import model_ref, render_request  # noqa: E402
from synthgen_blender import entry  # noqa: E402


def bench(model, resolution, samples, images, tmp):
    rows = []
    for index in range(images + 1):
        request = render_request(
            model, f"{tmp}/bench_{resolution}_{index}.png", f"b{index}", resolution=resolution,
            samples=samples, seed=index, camera__azimuth_deg=37.0 * index,
            camera__elevation_deg=10.0 + 5.0 * (index % 6),
        )
        start = time.perf_counter()
        reply = json.loads(entry.handle_request(json.dumps(request)))
        wall = time.perf_counter() - start
        if not reply["ok"]:
            raise SystemExit(f"render failed: {reply}")
        rows.append((reply, wall))
    first, rest = rows[0], rows[1:]
    render = statistics.mean(r["render_seconds"] for r, _ in rest)
    setup = statistics.mean(r["setup_seconds"] for r, _ in rest)
    wall = statistics.mean(w for _, w in rest)
    print(f"{resolution}px/{samples}spp, {images} images, model reused: render {render:.3f} s, "
          f"setup {setup:.4f} s, total per request {wall:.3f} s "
          f"(overhead {wall - render:.3f} s); first request: load "
          f"{first[0]['load_seconds']:.3f} s, total {first[1]:.3f} s")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?", default="cube.obj")
    parser.add_argument("--images", type=int, default=10)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="synthgen-bench-")
    for resolution, samples in ((128, 16), (224, 64)):
        # A new key per setting, so each setting starts with its own load.
        model = model_ref(args.model, key=f"bench:{args.model}:{resolution}")
        bench(model, resolution, samples, args.images, tmp)


if __name__ == "__main__":
    main()
