"""A bare Cycles render of the benchmark mesh, with nothing of either pipeline: the same script
runs under bpy 4.2 (BlenderProc's Blender) and bpy 5.0.1 (synthgen's), so bench/vs_blenderproc.sh
can tell renderer speed from pipeline cost. One Principled BSDF, one point lamp, a uniform
world, a transparent film; the camera moves around the object between renders (azimuth steps at
3.5 units, 30 deg up); the mesh is loaded once.

usage: python bare_cycles.py MESH.obj OUT_DIR IMAGES RESOLUTION SAMPLES THREADS
Prints one JSON line: the Blender version and the seconds of each render call.
"""
import json
import math
import os
import sys
import time

import bpy
from mathutils import Vector


def main():
    mesh, out = sys.argv[1], sys.argv[2]
    images, res, samples, threads = (int(a) for a in sys.argv[3:7])
    os.makedirs(out, exist_ok=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    bpy.ops.wm.obj_import(filepath=mesh)
    objs = [o for o in scene.objects if o.type == "MESH"]
    corners = [o.matrix_world @ Vector(c) for o in objs for c in o.bound_box]
    lo = Vector([min(c[i] for c in corners) for i in range(3)])
    hi = Vector([max(c[i] for c in corners) for i in range(3)])
    scale = 1.0 / max(hi - lo)
    mat = bpy.data.materials.new("bare")
    mat.use_nodes = True
    bsdf = mat.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (0.6, 0.3, 0.2, 1.0)
    bsdf.inputs["Roughness"].default_value = 0.4
    for o in objs:
        o.location = (o.location - (lo + hi) / 2) * scale
        o.scale = [s * scale for s in o.scale]
        o.data.materials.clear()
        o.data.materials.append(mat)
    lamp = bpy.data.objects.new("lamp", bpy.data.lights.new("lamp", "POINT"))
    lamp.location = (4.0, -3.0, 5.0)
    lamp.data.energy = 4.0 * 4 * math.pi * lamp.location.length_squared
    scene.collection.objects.link(lamp)
    world = bpy.data.worlds.new("bare")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.5, 0.5, 0.55, 1.0)
    scene.world = world
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    cam.data.lens, cam.data.sensor_width = 50, 36
    scene.collection.objects.link(cam)
    scene.camera = cam
    render = scene.render
    render.engine = "CYCLES"
    render.resolution_x = render.resolution_y = res
    render.resolution_percentage = 100
    render.film_transparent = True
    render.threads_mode, render.threads = "FIXED", threads
    render.image_settings.file_format = "PNG"
    render.image_settings.color_mode = "RGBA"
    cycles = scene.cycles
    cycles.device = "CPU"
    cycles.samples = samples
    cycles.use_adaptive_sampling = False
    cycles.use_denoising = True
    cycles.denoiser = "OPENIMAGEDENOISE"
    seconds = []
    for i in range(images):
        az, el = math.radians(360 * i / images), math.radians(30)
        cam.location = (3.5 * math.cos(el) * math.cos(az), 3.5 * math.cos(el) * math.sin(az),
                        3.5 * math.sin(el))
        cam.rotation_euler = (Vector((0, 0, 0)) - cam.location).to_track_quat("-Z", "Y").to_euler()
        render.filepath = os.path.join(out, f"{i:03d}.png")
        t = time.perf_counter()
        bpy.ops.render.render(write_still=True)
        seconds.append(round(time.perf_counter() - t, 3))
    print(json.dumps({"blender": bpy.app.version_string, "seconds": seconds}))
    # bpy 4.2.0 (the PyPI wheel) crashes with SIGSEGV while the interpreter shuts down, after
    # all work is done; leave without the shutdown so the exit status means something.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
