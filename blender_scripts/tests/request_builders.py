"""Builders of protocol requests (the serde JSON of WorkerRequest) for the checks and benches."""
import copy
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")

BASE_PARAMS = {
    "scale": {"size": 1.0},
    "material": {
        "family": "plastic",
        "keep_original": False,
        "base_color": [0.8, 0.3, 0.1],
        "secondary_color": [0.1, 0.4, 0.8],
        "roughness": 0.4,
        "secondary_roughness": 0.4,
        "metallic": 0.0,
        "pattern_scale": 4.0,
        "pattern_detail": 4.0,
        "pattern_distortion": 1.0,
    },
    "light": {
        "lamps": [
            {
                "kind": "point",
                "radius": 4.0,
                "elevation_deg": 45.0,
                "azimuth_deg": 30.0,
                "energy": 800.0,
                "temperature_k": 6000.0,
                "color": [1.0, 0.95, 0.9],
                "shadow_radius": 0.5,
            }
        ],
        "world": {"kind": "uniform", "strength": 0.5, "color": [0.8, 0.8, 0.8]},
    },
    "camera": {
        "distance": 2.5,
        "elevation_deg": 25.0,
        "azimuth_deg": 40.0,
        "focal_length_mm": 35.0,
        "sensor_width_mm": 32.0,
        "roll_deg": 0.0,
        "look_at": [0.0, 0.0, 0.0],
    },
    # Composited in Rust; part of the scene the worker receives, which ignores it.
    "background": {"kind": "none"},
}

# The fields each lamp kind carries besides the common ones (src/scene/light.rs).
LAMP_KIND_FIELDS = {
    "point": {"shadow_radius": 0.3},
    "sun": {"angle_deg": 5.0},
    "spot": {"shadow_radius": 0.3, "spot_angle_deg": 60.0, "spot_blend": 0.3},
    "area": {"side": 0.6},
}
LAMP_COMMON = ("radius", "elevation_deg", "azimuth_deg", "energy", "temperature_k", "color")


# Blender's defaults, as RenderSettings' serde defaults in src/scene/contract.rs.
LIGHT_PATH_DEFAULTS = {
    "persistent_data": False,
    "adaptive": {"mode": "off"},
    "bounces": {
        "max": 12, "diffuse": 4, "glossy": 4, "transmission": 12, "caustics": True,
        "clamp_direct": 0.0, "clamp_indirect": 10.0,
    },
}


def lamp(kind, **fields):
    """A lamp of `kind` with the contract's fields for it."""
    base = {key: BASE_PARAMS["light"]["lamps"][0][key] for key in LAMP_COMMON}
    return {"kind": kind, **base, **LAMP_KIND_FIELDS[kind], **fields}


def model_ref(name, key=None, up_axis="Y", rotation=None):
    path = name if os.path.isabs(name) else os.path.join(DATA, name)
    ref = {"key": key or f"test:{name}", "path": path, "format": "obj", "up_axis": up_axis}
    if rotation is not None:
        ref["rotation"] = rotation
    return ref


def render_request(model, output, request_id="r", resolution=64, samples=16, seed=7, **edits):
    """A render request.

    `edits` maps param paths joined by "__" (material__family="metal") to new values.
    """
    params = copy.deepcopy(BASE_PARAMS)
    for dotted, value in edits.items():
        node = params
        keys = dotted.split("__")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    if params["material"]["family"] != "image":
        params["material"].pop("image", None)
    return {
        "type": "render",
        "id": request_id,
        "model": model,
        "params": params,
        "settings": {
            "resolution": resolution,
            "samples": samples,
            "denoise": False,
            "engine": "cycles",
            "threads": 0,
            "device": "auto",
            **LIGHT_PATH_DEFAULTS,
        },
        "seed": seed,
        "output": output,
    }
