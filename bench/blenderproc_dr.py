"""BlenderProc 2.8.0 side of bench/vs_blenderproc.sh: a domain-randomized dataset of one mesh,
written as BlenderProc's documentation writes one, with one material and one light change per
image, and the same distributions and validation as the synthgen preset of the benchmark.

BlenderProc 2.8.0 normally runs under its own Blender launcher (`blenderproc run`);
bench/blenderproc_shim.py (imported first) runs its API inside the venv with the PyPI `bpy` 4.2
wheel instead (2.8.0 has no switch for an external `bpy`).

Per image: a Principled BSDF with a random colour (HSV), roughness and metallic; one point lamp
on a shell (radius 4..10, elevation -10..80 deg) with a log-uniform irradiance at the object
(1..8 W/m^2) and an apparent size of 2..30 deg (white: synthgen also tints it by a colour
temperature); a
uniform world with a muted tint; the camera on a shell around the object (distance 2.5..5,
elevation -15..75 deg, 50 mm lens on 36 mm), looking at the centre jittered by +-0.1 per axis,
with a hand-held roll (normal, std 5 deg, clipped to 15). An image is kept when the object
covers 2%..90% of it and at most 5% of the border (synthgen's defaults), else the view is
re-sampled (at most 5 tries per image).

usage: blenderproc_dr.py MESH.obj OUT IMAGES RESOLUTION SAMPLES THREADS SEED
Prints one JSON line: images kept, renders, wall seconds (after start-up), start-up seconds.
"""
import os
import sys
import time

T_START = time.perf_counter()
import blenderproc_shim  # noqa: E402,F401  (before blenderproc)
import blenderproc as bproc  # noqa: E402
import bpy  # noqa: E402
import colorsys  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

MIN_COVERAGE, MAX_COVERAGE, MAX_TRUNCATION, MAX_ATTEMPTS = 0.02, 0.9, 0.05, 5


def log_uniform(rng, lo, hi):
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def on_shell(rng, r_lo, r_hi, el_lo, el_hi):
    r = rng.uniform(r_lo, r_hi)
    el, az = math.radians(rng.uniform(el_lo, el_hi)), math.radians(rng.uniform(0, 360))
    return np.array([r * math.cos(el) * math.cos(az), r * math.cos(el) * math.sin(az), r * math.sin(el)])


def normalize(objs):
    """Centre the mesh at the origin and scale its largest side to 1 (as synthgen does)."""
    corners = np.concatenate([o.get_bound_box() for o in objs])
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    scale = 1.0 / float((hi - lo).max())
    for o in objs:
        o.set_location(o.get_location() - (lo + hi) / 2)
        o.persist_transformation_into_mesh()
        o.set_scale([scale] * 3)
        o.persist_transformation_into_mesh()


def keep(rgba):
    alpha = rgba[..., 3] > 127
    border = np.concatenate([alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]])
    return MIN_COVERAGE <= alpha.mean() <= MAX_COVERAGE and border.mean() <= MAX_TRUNCATION


def main():
    mesh, out = sys.argv[1], sys.argv[2]
    images, res, samples, threads, seed = (int(a) for a in sys.argv[3:8])
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    bproc.init()
    objs = bproc.loader.load_obj(mesh)
    normalize(objs)
    material = bproc.material.create("randomized")
    for o in objs:
        o.replace_materials(material)
    light = bproc.types.Light()
    light.set_type("POINT")
    bproc.camera.set_resolution(res, res)
    bproc.camera.set_intrinsics_from_blender_params(lens=50, lens_unit="MILLIMETERS")
    bpy.context.scene.camera.data.sensor_width = 36
    bproc.renderer.set_max_amount_of_samples(samples)
    bproc.renderer.set_noise_threshold(0)  # adaptive sampling off, as in synthgen's preset
    bproc.renderer.set_denoiser("INTEL")  # Open Image Denoise
    bproc.renderer.set_cpu_threads(threads)
    bproc.renderer.set_output_format(enable_transparency=True)
    # Blender's default bounces (synthgen keeps them; BlenderProc's init lowers them).
    bproc.renderer.set_light_bounces(diffuse_bounces=4, glossy_bounces=4, max_bounces=12,
                                     transmission_bounces=12, transparent_max_bounces=8,
                                     volume_bounces=0)
    started = time.perf_counter()
    kept = renders = 0
    for i in range(images):
        for _attempt in range(MAX_ATTEMPTS):
            rgb = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.15, 1))
            material.set_principled_shader_value("Base Color", [*rgb, 1.0])
            material.set_principled_shader_value("Roughness", float(rng.uniform(0.05, 1)))
            material.set_principled_shader_value("Metallic", float(rng.choice([0, 0, 0, 1])))
            where = on_shell(rng, 4, 10, -10, 80)
            light.set_location(where)
            # Apparent diameter 2..30 deg from the object: soft to crisp shadows.
            size = math.radians(rng.uniform(2, 30))
            light.set_radius(float(np.linalg.norm(where)) * math.tan(size / 2))
            # Irradiance E (W/m^2) at the object from a point lamp of power P: E = P / (4 pi r^2).
            light.set_energy(log_uniform(rng, 1, 8) * 4 * math.pi * float(np.dot(where, where)))
            tint = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0, 0.3), rng.uniform(0.3, 1))
            bproc.renderer.set_world_background(list(tint), strength=log_uniform(rng, 0.2, 1.5))
            bproc.utility.reset_keyframes()
            eye = on_shell(rng, 2.5, 5, -15, 75)
            target = rng.uniform(-0.1, 0.1, size=3)
            roll = math.radians(float(np.clip(rng.normal(0, 5), -15, 15)))
            rotation = bproc.camera.rotation_from_forward_vec(target - eye, inplane_rot=roll)
            bproc.camera.add_camera_pose(bproc.math.build_transformation_mat(eye, rotation))
            rgba = bproc.renderer.render(verbose=False)["colors"][0]
            renders += 1
            if keep(rgba):
                Image.fromarray(rgba).save(os.path.join(out, f"{i:05d}.png"))
                kept += 1
                break
    wall = time.perf_counter() - started
    print(json.dumps({"kept": kept, "renders": renders, "seconds": round(wall, 3),
                      "startup_seconds": round(started - T_START, 3),
                      "blender": bpy.app.version_string}))
    # bpy 4.2.0 (the PyPI wheel) crashes with SIGSEGV while the interpreter shuts down, after
    # all work is done; leave without the shutdown so the exit status means something.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
