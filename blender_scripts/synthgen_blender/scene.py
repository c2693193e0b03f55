"""One-time scene setup and the cheap per-request render settings.

The scene starts factory-empty (no default cube, light or camera) so that only what the request
describes ends up in the picture, and so that no user preferences or startup file leak in.
"""
import json

import bpy

SCENE_SETUP_DONE = False
# The Cycles device of this process: "cpu", "optix" or "cuda" (set by setup_once).
DEVICE_IN_USE = None
# GPU backends in order of preference (OptiX is faster on RTX cards; CUDA works on all).
GPU_BACKENDS = ("OPTIX", "CUDA")


def setup_once(device="auto"):
    """Reset Blender to an empty factory scene and set everything that never changes per image.

    `device` is the contract's `render.device`: auto | cpu | gpu.
    """
    global SCENE_SETUP_DONE, DEVICE_IN_USE
    if SCENE_SETUP_DONE:
        return
    # use_empty: no cube/light/camera from the startup file; factory: no user prefs or add-ons.
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    render = scene.render
    render.engine = "CYCLES"
    DEVICE_IN_USE = DEVICE_CHOICES[device](scene)
    # Transparent film: alpha is the object mask, the Rust compositor adds the background.
    render.film_transparent = True
    render.resolution_percentage = 100
    render.use_file_extension = False
    render.use_compositing = False
    render.use_sequencer = False
    # No dither noise on 8-bit output: transparent pixels stay exactly (0, 0, 0, 0).
    render.dither_intensity = 0.0
    settings = render.image_settings
    settings.file_format = "PNG"
    settings.color_mode = "RGBA"
    settings.color_depth = "8"
    # Plain sRGB output so the Rust-side compositing matches (no Filmic/AgX tone curve).
    view = scene.view_settings
    view.view_transform = "Standard"
    view.look = "None"
    view.exposure = 0.0
    view.gamma = 1.0
    scene.display_settings.display_device = "sRGB"
    # Determinism: a fixed seed per request, no per-frame seed, fixed sample count.
    scene.cycles.use_animated_seed = False
    scene.frame_current = 1
    SCENE_SETUP_DONE = True


def apply_settings(settings, seed):
    """Per-request render settings (resolution, samples, denoiser, threads, noise seed)."""
    engine = settings["engine"].lower()
    if engine != "cycles":
        raise ValueError(
            f"settings.engine is '{settings['engine']}', but only 'cycles' is supported; "
            "set render.engine: cycles in the preset."
        )
    scene = bpy.context.scene
    render = scene.render
    resolution = int(settings["resolution"])
    if resolution < 1:
        raise ValueError(f"settings.resolution must be at least 1, got {resolution}.")
    render.resolution_x = resolution
    render.resolution_y = resolution
    samples = int(settings["samples"])
    if samples < 1:
        raise ValueError(f"settings.samples must be at least 1, got {samples}.")
    cycles = scene.cycles
    cycles.samples = samples
    cycles.use_denoising = bool(settings["denoise"])
    if cycles.use_denoising:
        cycles.denoiser = "OPENIMAGEDENOISE"
        cycles.denoising_use_gpu = DEVICE_IN_USE != "cpu"
    threads = int(settings["threads"])
    if threads <= 0:
        render.threads_mode = "AUTO"
    else:
        render.threads_mode = "FIXED"
        render.threads = threads
    # Cycles' seed is a signed 32-bit int in RNA; fold the u32 seed into its range.
    cycles.seed = int(seed) % 2147483647
    render.use_persistent_data = bool(settings["persistent_data"])
    adaptive = settings["adaptive"]
    ADAPTIVE_MODES[adaptive["mode"]](cycles, adaptive)
    _apply_bounces(cycles, settings["bounces"])


def _adaptive_off(cycles, adaptive):
    cycles.use_adaptive_sampling = False


def _adaptive_on(cycles, adaptive):
    cycles.use_adaptive_sampling = True
    cycles.adaptive_threshold = float(adaptive["threshold"])
    cycles.adaptive_min_samples = int(adaptive["min_samples"])


ADAPTIVE_MODES = {"off": _adaptive_off, "on": _adaptive_on}


def _apply_bounces(cycles, bounces):
    """Light path limits, as given (Rust chose them; see RenderSettings.bounces)."""
    cycles.max_bounces = int(bounces["max"])
    cycles.diffuse_bounces = int(bounces["diffuse"])
    cycles.glossy_bounces = int(bounces["glossy"])
    cycles.transmission_bounces = int(bounces["transmission"])
    cycles.caustics_reflective = bool(bounces["caustics"])
    cycles.caustics_refractive = bool(bounces["caustics"])
    cycles.sample_clamp_direct = float(bounces["clamp_direct"])
    cycles.sample_clamp_indirect = float(bounces["clamp_indirect"])


def cycles_gpus_seen():
    """The GPUs this bpy's Cycles sees, per backend in order of preference, as JSON text:
    {"optix": [names], "cuda": [names]} (a backend this build lacks is left out). Leaves the
    preferences' device type as it found it; the worker reports this in its ready line."""
    seen = {}
    addon = bpy.context.preferences.addons.get("cycles")
    if addon is not None:
        prefs = addon.preferences
        before = prefs.compute_device_type
        for backend in GPU_BACKENDS:
            try:
                prefs.compute_device_type = backend
            except TypeError:
                continue  # this build of Cycles has no such backend
            prefs.refresh_devices()
            seen[backend.lower()] = [d.name for d in prefs.devices if d.type == backend]
        prefs.compute_device_type = before
    return json.dumps(seen)


def _use_cpu(scene):
    scene.cycles.device = "CPU"
    return "cpu"


def _use_gpu_if_any(scene):
    """The first GPU backend with a device this process sees (all its devices on); None if none.

    One worker per GPU: the parent restricts each worker to one card (CUDA_VISIBLE_DEVICES).
    """
    addon = bpy.context.preferences.addons.get("cycles")
    if addon is None:
        return None
    prefs = addon.preferences
    for backend in GPU_BACKENDS:
        try:
            prefs.compute_device_type = backend
        except TypeError:
            continue  # this build of Cycles has no such backend
        prefs.refresh_devices()
        gpus = [d for d in prefs.devices if d.type == backend]
        if not gpus:
            continue
        for d in prefs.devices:
            d.use = d.type == backend
        scene.cycles.device = "GPU"
        return backend.lower()
    prefs.compute_device_type = "NONE"
    return None


def _use_auto(scene):
    return _use_gpu_if_any(scene) or _use_cpu(scene)


def _use_gpu(scene):
    found = _use_gpu_if_any(scene)
    if found is None:
        raise RuntimeError(
            "render.device is gpu, but Cycles sees no OptiX or CUDA device in this worker; "
            "set render.device: auto (or cpu) in the preset, or check the GPU driver."
        )
    return found


DEVICE_CHOICES = {"auto": _use_auto, "cpu": _use_cpu, "gpu": _use_gpu}
