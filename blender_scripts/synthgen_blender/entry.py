"""Protocol entry point: one request line (JSON) in, one reply line (JSON) out.

Requests and replies are the serde JSON of `WorkerRequest` / `WorkerReply` in
src/render/protocol.rs. `handle_request` never raises: every failure becomes a reply with
ok=false, a one-line `error`, and `error_kind` "model" (the model is at fault) or "render".

Module state: the loaded model. Consecutive requests with the same `model.key` reuse its
objects (reused_model=true, load_seconds=0) and only re-apply scale, material, lights, camera,
world and settings.
"""
import json
import time

from . import camera, lighting, materials, objects, output, scene

CURRENT_MODEL = None

# The fields this side reads from a render request (WorkerRequest::Render in
# src/render/protocol.rs); a dict lists the fields of a nested object.
LAMP_FIELDS = ("kind", "radius", "elevation_deg", "azimuth_deg", "energy", "color", "size")
RENDER_FIELDS = {
    "id": None,
    "model": {"key": None, "path": None},
    "params": {
        "scale": {"size": None},
        "material": {
            "keep_original": None, "family": None, "base_color": None,
            "secondary_color": None, "roughness": None, "metallic": None,
            "pattern_scale": None, "pattern_detail": None, "pattern_distortion": None,
        },
        "light": {
            "lamps": None,
            "world": {"kind": None, "strength": None, "rotation_deg": None, "color": None,
                      "sun_elevation_deg": None},
        },
        "camera": {
            "distance": None, "elevation_deg": None, "azimuth_deg": None,
            "focal_length_mm": None, "sensor_width_mm": None, "roll_deg": None, "look_at": None,
        },
    },
    "settings": {"resolution": None, "samples": None, "denoise": None, "engine": None,
                 "threads": None},
    "seed": None,
    "output": None,
}


def handle_request(request_json):
    """Handle one protocol request; return the reply as a JSON string (never raises)."""
    request_id = ""
    try:
        request = json.loads(request_json)
        if not isinstance(request, dict):
            raise ValueError("the request line is not a JSON object.")
        request_id = str(request.get("id", ""))
        kind = request.get("type")
        if kind == "render":
            reply = render(request)
        elif kind == "shutdown":
            shutdown()
            reply = _reply(request_id, ok=True)
        else:
            raise ValueError(f"request type '{kind}' is unknown, expected 'render' or 'shutdown'.")
    except objects.ModelError as err:
        reply = _reply(request_id, ok=False, error=objects.one_line(err), error_kind="model")
    except Exception as err:  # noqa: BLE001 - every failure must become a reply line.
        text = f"{type(err).__name__}: {objects.one_line(err)}"
        reply = _reply(request_id, ok=False, error=text, error_kind="render")
    return json.dumps(reply)


def render(request):
    """Apply one render request to the scene and render it."""
    global CURRENT_MODEL
    _check_fields(request, RENDER_FIELDS, "")
    for index, lamp in enumerate(request["params"]["light"]["lamps"]):
        _check_fields(lamp, dict.fromkeys(LAMP_FIELDS), f"params.light.lamps[{index}].")
    request_id = str(request["id"])
    model = request["model"]
    params = request["params"]

    setup_start = time.perf_counter()
    scene.setup_once()
    setup_seconds = time.perf_counter() - setup_start

    load_seconds = 0.0
    reused = CURRENT_MODEL is not None and CURRENT_MODEL.key == model["key"]
    if not reused:
        load_start = time.perf_counter()
        previous, CURRENT_MODEL = CURRENT_MODEL, None
        objects.unload_model(previous)
        CURRENT_MODEL = objects.load_model(model)
        load_seconds = time.perf_counter() - load_start

    setup_start = time.perf_counter()
    scene.apply_settings(request["settings"], request["seed"])
    objects.apply_scale(CURRENT_MODEL, params["scale"]["size"])
    missing = materials.apply_material(CURRENT_MODEL, params["material"])
    lighting.apply_lamps(params["light"]["lamps"])
    lighting.apply_world(params["light"]["world"])
    camera.apply_camera(params["camera"])
    setup_seconds += time.perf_counter() - setup_start

    render_seconds = output.render_to(request["output"])
    return _reply(
        request_id,
        ok=True,
        render_seconds=render_seconds,
        load_seconds=load_seconds,
        setup_seconds=setup_seconds,
        reused_model=reused,
        missing_textures=missing,
    )


def shutdown():
    """Drop the loaded model so the process exits with a clean scene."""
    global CURRENT_MODEL
    previous, CURRENT_MODEL = CURRENT_MODEL, None
    if previous is not None:
        objects.unload_model(previous)


def render_request_file(path):
    """One-shot CLI: render the request in the JSON file `path`; return the reply JSON string."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return handle_request(text)


def _check_fields(value, fields, prefix):
    """Raise a clear ValueError naming the first missing field (instead of a bare KeyError)."""
    if not isinstance(value, dict):
        raise ValueError(f"the request field {prefix.rstrip('.') or '(root)'} must be an object.")
    for name, nested in fields.items():
        if name not in value:
            raise ValueError(
                f"the request lacks the field {prefix}{name}; it must be the JSON of "
                "WorkerRequest in src/render/protocol.rs."
            )
        if nested is not None:
            _check_fields(value[name], nested, f"{prefix}{name}.")


def _reply(request_id, ok, error=None, error_kind=None, **fields):
    reply = {
        "id": request_id,
        "ok": ok,
        "render_seconds": 0.0,
        "load_seconds": 0.0,
        "setup_seconds": 0.0,
        "reused_model": False,
        "missing_textures": [],
        "error": error,
        "error_kind": error_kind,
    }
    reply.update(fields)
    return reply

