"""Protocol entry point: one request line (JSON) in, one reply line (JSON) out.

Requests and replies are the serde JSON of `WorkerRequest` / `WorkerReply` in
src/scene/contract.rs; every request is checked against the schema generated from them
(request.schema.json, or the text the Rust worker passes to `start`). `handle_request` never raises: every failure becomes a reply with
ok=false, a one-line `error`, and `error_kind` "model" (the model is at fault) or "render".

Module state: the loaded model. Consecutive requests with the same `model.key` reuse its
objects (reused_model=true, load_seconds=0) and only re-apply scale, material, lights, camera,
world and settings.
"""
import json
import time

from . import camera, contract, lighting, materials, objects, output, scene

CURRENT_MODEL = None
SCHEMA = None


def start(schema_text=None):
    """Load the contract's schema (given by the Rust worker, else request.schema.json) and
    check that every kind it names has a handler here; raise before serving otherwise."""
    global SCHEMA
    schema = contract.Schema.from_text(schema_text) if schema_text else contract.Schema.from_file()
    for definition, tag, table in (
        ("Material", "family", materials.FAMILY_BUILDERS),
        ("Lamp", "kind", lighting.LAMP_BUILDERS),
        ("World", "kind", lighting.WORLD_BUILDERS),
    ):
        wanted, handled = set(schema.tags(definition, tag)), set(table)
        if wanted != handled:
            raise contract.ContractError(
                f"the contract's {definition} kinds ({', '.join(sorted(wanted))}) differ from "
                f"those synthgen_blender handles ({', '.join(sorted(handled))}); update both "
                "sides together."
            )
    SCHEMA = schema


def handle_request(request_json):
    """Handle one protocol request; return the reply as a JSON string (never raises)."""
    request_id = ""
    try:
        if SCHEMA is None:
            start()
        request = json.loads(request_json)
        if isinstance(request, dict):
            request_id = str(request.get("id", ""))
        SCHEMA.check(request)
        reply = REQUEST_HANDLERS[request["type"]](request)
    except objects.ModelError as err:
        reply = _reply(request_id, ok=False, error=objects.one_line(err), error_kind="model")
    except Exception as err:  # noqa: BLE001 - every failure must become a reply line.
        text = f"{type(err).__name__}: {objects.one_line(err)}"
        reply = _reply(request_id, ok=False, error=text, error_kind="render")
    return json.dumps(reply)


def render(request):
    """Apply one render request to the scene and render it."""
    global CURRENT_MODEL
    request_id = str(request["id"])
    model = request["model"]
    params = request["params"]

    setup_start = time.perf_counter()
    scene.setup_once(request["settings"]["device"])
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
        device=scene.DEVICE_IN_USE,
    )


def shutdown(request=None):
    """Drop the loaded model so the process exits with a clean scene."""
    global CURRENT_MODEL
    previous, CURRENT_MODEL = CURRENT_MODEL, None
    if previous is not None:
        objects.unload_model(previous)
    return _reply(str((request or {}).get("id", "")), ok=True)


REQUEST_HANDLERS = {"render": render, "shutdown": shutdown}


def render_request_file(path):
    """One-shot CLI: render the request in the JSON file `path`; return the reply JSON string."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return handle_request(text)


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

