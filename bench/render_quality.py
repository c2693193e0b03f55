"""Render cost and quality per Cycles setting (driven by bench/render_quality.sh).

Every setting renders the SAME scenes (same preset, seed, classes and images); a
high-sample render of those scenes is the reference. Settings run in ROUNDS, interleaved
(the order rotates each round), so a load swing on a shared machine hits all of them. Per
setting it reports the median over rounds of: Cycles seconds per image (time inside
bpy.ops.render.render, from summary.json), CPU seconds per image (getrusage of the render
command and its reaped workers, so Blender's start is included) and wall seconds per image;
and, against the reference, PSNR over the object's pixels and SSIM of the whole image
(luma, 11x11 Gaussian window, sigma 1.5). Images whose accepted attempt differs from the
reference's (validation chose another view) are not compared and are counted.

Usage: render_quality.py BIN WORK RES SPP REF_SPP PER_CLASS CLASSES ROUNDS
"""
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
from PIL import Image

SETTINGS = [
    ("baseline (Blender defaults)", []),
    ("adaptive 0.01", ["render.adaptive_threshold=0.01"]),
    ("adaptive 0.05", ["render.adaptive_threshold=0.05"]),
    ("bounces 4/2/2/4, no caustics", [
        "render.max_bounces=4", "render.diffuse_bounces=2", "render.glossy_bounces=2",
        "render.transmission_bounces=4", "render.caustics=false",
    ]),
    ("clamp indirect 1", ["render.clamp_indirect=1"]),
    ("persistent data", ["render.persistent_data=true"]),
    ("adaptive 0.01 + bounces 4/2/2/4", [
        "render.adaptive_threshold=0.01", "render.max_bounces=4", "render.diffuse_bounces=2",
        "render.glossy_bounces=2", "render.transmission_bounces=4", "render.caustics=false",
    ]),
]


def render(binary, out, res, spp, per_class, classes, extra):
    args = [binary, "render", "--preset", "demo", "--out", out, "--workers", "1",
            "--classes", classes, "--per-class", str(per_class),
            "--set", f"render.resolution={res}", "--set", f"render.samples={spp}"]
    for item in extra:
        args += ["--set", item]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = json.load(open(f"{out}/summary.json"))
    records = {}
    for line in open(f"{out}/manifest.jsonl"):
        r = json.loads(line)
        records[r["id"]] = r
    n = summary["images_total"]
    cycles = summary["render_seconds"] + summary["rejected_render_seconds"]
    renders = n + sum(summary["rejected_attempts"].values())
    return {"wall": wall / n, "cpu": cpu / n, "cycles": cycles / renders, "records": records,
            "out": out}


def load_rgb(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0


def gaussian_filter(x, sigma=1.5, radius=5):
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-(t * t) / (2 * sigma * sigma))
    k /= k.sum()
    pad = np.pad(x, radius, mode="reflect")
    rows = sum(k[i] * pad[i:i + x.shape[0], :] for i in range(len(k)))
    return sum(k[i] * rows[:, i:i + x.shape[1]] for i in range(len(k)))


def ssim(a, b):
    luma = np.array([0.299, 0.587, 0.114])
    x, y = a @ luma, b @ luma
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mx, my = gaussian_filter(x), gaussian_filter(y)
    vx = gaussian_filter(x * x) - mx * mx
    vy = gaussian_filter(y * y) - my * my
    cxy = gaussian_filter(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


def psnr_object(a, b, mask):
    diff = (a - b)[mask]
    mse = float(np.mean(diff * diff)) if diff.size else 0.0
    return 99.0 if mse == 0.0 else 10.0 * np.log10(1.0 / mse)


def quality(run, ref):
    psnrs, ssims, skipped = [], [], 0
    for image_id, r in ref["records"].items():
        mine = run["records"].get(image_id)
        if mine is None or mine["attempt"] != r["attempt"]:
            skipped += 1
            continue
        a = load_rgb(f"{run['out']}/{mine['path']}")
        b = load_rgb(f"{ref['out']}/{r['path']}")
        mask = np.asarray(Image.open(f"{ref['out']}/{r['mask']}").convert("L")) > 127
        psnrs.append(psnr_object(a, b, mask))
        ssims.append(ssim(a, b))
    return psnrs, ssims, skipped


def main(argv):
    binary, work, res, spp, ref_spp, per_class, classes, rounds = argv[1:9]
    res, spp, ref_spp, per_class, rounds = map(int, (res, spp, ref_spp, per_class, rounds))
    ref = render(binary, f"{work}/reference", res, ref_spp, per_class, classes, [])
    results = {name: [] for name, _ in SETTINGS}
    for round_index in range(rounds):
        k = round_index % len(SETTINGS)
        for name, extra in SETTINGS[k:] + SETTINGS[:k]:
            out = f"{work}/r{round_index}_{len(results[name])}_{abs(hash(name)) % 10**6}"
            results[name].append(render(binary, out, res, spp, per_class, classes, extra))
    print(f"Reference: {ref_spp} samples, {len(ref['records'])} images, "
          f"{ref['cycles']:.2f} s Cycles / image.\n")
    print("| setting | Cycles s / image | CPU s / image | wall s / image | PSNR object dB "
          "(mean, min) | SSIM (mean, min) | compared |")
    print("|---|---|---|---|---|---|---|")
    for name, _ in SETTINGS:
        runs = results[name]
        med = {k: statistics.median(r[k] for r in runs) for k in ("cycles", "cpu", "wall")}
        psnrs, ssims, skipped = quality(runs[0], ref)
        print(f"| {name} | {med['cycles']:.3f} | {med['cpu']:.2f} | {med['wall']:.2f} "
              f"| {np.mean(psnrs):.2f}, {np.min(psnrs):.2f} | {np.mean(ssims):.4f}, "
              f"{np.min(ssims):.4f} | {len(psnrs)} ({skipped} other view) |")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv)
