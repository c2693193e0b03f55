"""Checks of the Blender worker package with the real bpy, on tiny renders.

Run: .venv/bin/python blender_scripts/tests/check_worker.py [--keep]
Exits non-zero (AssertionError) on the first failed check; prints one line per check passed.
--keep leaves the rendered images in the temporary folder it prints.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)
sys.path.insert(0, SCRIPTS)
sys.path.insert(0, HERE)

import bpy  # noqa: E402
import numpy as np  # noqa: E402

from request_builders import LIGHT_PATH_DEFAULTS, lamp, model_ref, render_request  # noqa: E402
from synthgen_blender import camera, entry, lighting, output, scene  # noqa: E402

SWEET_HOME_ARCHIVE = "/usr/share/sweethome3d/furniture/BlendSwap-CC-0.sh3f"
BUNDLED_HDRI_DIR = bpy.utils.system_resource("DATAFILES", path="studiolights/world")


def sky_world(sun_azimuth_deg, sun_elevation_deg):
    return {"kind": "sky", "strength": 1.0, "sun_elevation_deg": sun_elevation_deg,
            "sun_azimuth_deg": sun_azimuth_deg, "turbidity": 2.5, "ground_albedo": 0.3}


def call(request):
    reply = json.loads(entry.handle_request(json.dumps(request)))
    for field in ("id", "ok", "render_seconds", "load_seconds", "setup_seconds",
                  "reused_model", "missing_textures", "error", "error_kind"):
        assert field in reply, f"reply lacks field {field}: {reply}"
    return reply


def render_ok(request):
    reply = call(request)
    assert reply["ok"], f"render {request['id']} failed: {reply}"
    assert os.path.isfile(request["output"]), f"{request['output']} was not written"
    return reply


def read_rgba(path):
    """The PNG as uint8 RGBA, top row first."""
    image = bpy.data.images.load(path)
    try:
        width, height = image.size
        pixels = np.empty(width * height * 4, dtype=np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    pixels = pixels.reshape(height, width, 4)[::-1]
    return np.round(pixels * 255.0).astype(np.uint8)


def magenta_fraction(rgba):
    r, g, b, a = (rgba[..., i].astype(int) for i in range(4))
    magenta = (r > 200) & (g < 60) & (b > 200) & (a > 0)
    return magenta.sum() / max((a > 0).sum(), 1)


def check_alpha_is_mask(rgba, what):
    alpha = rgba[..., 3]
    h, w = alpha.shape
    corners = [alpha[0, 0], alpha[0, -1], alpha[-1, 0], alpha[-1, -1]]
    assert max(corners) == 0, f"{what}: corners should be transparent, alpha {corners}"
    assert alpha[h // 2, w // 2] == 255, f"{what}: the centre should be the opaque object"
    coverage = (alpha > 0).mean()
    assert 0.02 < coverage < 0.95, f"{what}: object covers {coverage:.3f} of the image"
    partial = ((alpha > 0) & (alpha < 255)).mean()
    # Only anti-aliased edges are partly transparent: the film is a clean object mask.
    assert partial < 0.5 * coverage, f"{what}: {partial:.3f} partly transparent pixels"
    # Straight alpha: no colour where nothing was hit.
    assert rgba[alpha == 0][:, :3].max(initial=0) == 0, f"{what}: colour outside the mask"


def gpu_visible():
    """Whether this machine has an NVIDIA GPU device node (what Cycles' CUDA/OptiX need)."""
    return os.path.exists("/dev/nvidiactl")


def check_device_auto(tmp):
    reply = render_ok(render_request(model_ref("cube.obj"), f"{tmp}/device.png", "dev",
                                     resolution=16, samples=1))
    expected = ("optix", "cuda") if gpu_visible() else ("cpu",)
    assert reply["device"] in expected, f"render.device auto used {reply['device']}: {reply}"
    print(f"ok: render.device auto renders on {reply['device']}")


def check_gpus_seen():
    """The ready line's report: per GPU backend the devices Cycles lists, none without a GPU;
    the preferences' device type is left as it was."""
    prefs = bpy.context.preferences.addons["cycles"].preferences
    before = prefs.compute_device_type
    seen = json.loads(scene.cycles_gpus_seen())
    assert prefs.compute_device_type == before, "cycles_gpus_seen changed the device type"
    assert set(seen) <= {"optix", "cuda"} and "cuda" in seen, seen
    found = any(seen.values())
    assert found == gpu_visible(), f"GPUs seen {seen}, GPU device node: {gpu_visible()}"
    print(f"ok: Cycles GPUs seen at start-up: {seen}")


def check_cube_and_determinism(tmp):
    cube = model_ref("cube.obj")
    first = render_ok(render_request(cube, f"{tmp}/cube_a.png", "a"))
    assert not first["reused_model"] and first["load_seconds"] > 0, first
    again = render_ok(render_request(cube, f"{tmp}/cube_b.png", "b"))
    assert again["reused_model"] and again["load_seconds"] == 0, again
    a, b = read_rgba(f"{tmp}/cube_a.png"), read_rgba(f"{tmp}/cube_b.png")
    check_alpha_is_mask(a, "cube")
    assert np.array_equal(a, b), "same request twice (model reused) gave different pixels"
    # Another model in between, then the cube freshly loaded again: same pixels.
    render_ok(render_request(model_ref("missing_texture.obj"), f"{tmp}/other.png", "o"))
    fresh = render_ok(render_request(cube, f"{tmp}/cube_c.png", "c"))
    assert not fresh["reused_model"], fresh
    assert np.array_equal(a, read_rgba(f"{tmp}/cube_c.png")), "reloaded model gave other pixels"
    other_seed = render_ok(render_request(cube, f"{tmp}/cube_d.png", "d", seed=8))
    assert other_seed["ok"]
    assert not np.array_equal(a, read_rgba(f"{tmp}/cube_d.png")), "seed had no effect on noise"
    print("ok: cube renders; alpha is the object mask; reused == reloaded == repeated pixels")


def check_extreme_coordinates(tmp):
    """Huge, far-away or tiny coordinates normalize to the same picture as the plain cube."""
    with open(os.path.join(HERE, "data", "cube.obj"), encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    reference = read_rgba(f"{tmp}/cube_a.png")[..., 3] > 0
    for name, factor, offset in (("huge", 1e4, 1e6), ("tiny", 1e-5, -3e-4)):
        path = f"{tmp}/{name}.obj"
        with open(path, "w", encoding="utf-8") as handle:
            for line in lines:
                if line.startswith("v "):
                    x, y, z = (float(c) * factor + offset for c in line.split()[1:])
                    line = f"v {x!r} {y!r} {z!r}"
                handle.write(line + "\n")
        render_ok(render_request(model_ref(path), f"{tmp}/{name}.png", name))
        mask = read_rgba(f"{tmp}/{name}.png")[..., 3] > 0
        differing = (mask != reference).mean()
        assert differing < 0.01, f"{name} coordinates: {differing:.3f} of the mask differs"
    print("ok: huge, far-away and tiny coordinates normalize to the same object mask")


def check_fresh_process_matches(tmp):
    request = render_request(model_ref("cube.obj"), f"{tmp}/fresh.png", "fresh")
    path = f"{tmp}/fresh_request.json"
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(request, handle)
    env = dict(os.environ, PYTHONPATH=SCRIPTS)
    done = subprocess.run(
        [sys.executable, "-m", "synthgen_blender", path],
        capture_output=True, text=True, env=env, check=False,
    )
    assert done.returncode == 0, f"fresh process failed: {done.stderr[-2000:]}"
    reply = json.loads(done.stdout.strip().splitlines()[-1])
    assert reply["ok"] and not reply["reused_model"], reply
    render_ok(render_request(model_ref("cube.obj"), f"{tmp}/inproc.png", "inproc"))
    assert np.array_equal(read_rgba(f"{tmp}/fresh.png"), read_rgba(f"{tmp}/inproc.png")), (
        "a fresh process and the long-lived worker rendered different pixels"
    )
    print("ok: `python -m synthgen_blender request.json` matches the in-process render")


def check_missing_texture(tmp):
    model = model_ref("missing_texture.obj")
    reply = render_ok(
        render_request(model, f"{tmp}/missing.png", "m", material__keep_original=True)
    )
    assert reply["missing_textures"] == ["does_not_exist.png"], reply
    rgba = read_rgba(f"{tmp}/missing.png")
    assert magenta_fraction(rgba) == 0.0, "the missing texture rendered magenta"
    assert (rgba[..., 3] > 0).mean() > 0.02, "the model is not visible"
    print("ok: a missing texture is reported and replaced, no magenta")


def check_families_worlds_lamps(tmp):
    from synthgen_blender.materials import FAMILIES

    texture = f"{tmp}/texture.png"
    image = bpy.data.images.new("texture", 16, 16)
    pixels = np.zeros((16, 16, 4), np.float32)
    pixels[..., 3] = 1.0
    pixels[::2, :, 0] = 1.0
    pixels[:, ::2, 1] = 1.0
    image.pixels.foreach_set(pixels.ravel())
    image.filepath_raw = texture
    image.file_format = "PNG"
    image.save()
    bpy.data.images.remove(image)
    model = model_ref("cube.obj")
    for family in FAMILIES:
        out = f"{tmp}/family_{family}.png"
        reply = render_ok(render_request(model, out, family, resolution=32, samples=4,
                                         material__family=family, material__image=texture))
        assert reply["missing_textures"] == [], reply
        rgba = read_rgba(out)
        assert magenta_fraction(rgba) == 0.0, f"family {family} rendered magenta"
        assert rgba[..., :3][rgba[..., 3] == 255].max() > 20, f"family {family} is black"
    reply = render_ok(render_request(model, f"{tmp}/noimage.png", "noimage", resolution=32,
                                     samples=4, material__family="image",
                                     material__image=f"{tmp}/absent.png"))
    assert reply["missing_textures"] == ["absent.png"], reply
    assert magenta_fraction(read_rgba(f"{tmp}/noimage.png")) == 0.0
    hdris = sorted(f for f in os.listdir(BUNDLED_HDRI_DIR) if f.endswith(".exr"))
    assert hdris, f"no bundled HDRI in {BUNDLED_HDRI_DIR}"
    worlds = {
        "hdri": {"kind": "hdri", "strength": 1.0, "hdri": os.path.join(BUNDLED_HDRI_DIR, hdris[0]),
                 "rotation_deg": 45.0},
        "sky": sky_world(30.0, 20.0),
    }
    energies = {"point": 500.0, "spot": 800.0, "area": 300.0, "sun": 3.0}
    for name, world in worlds.items():
        for kind, energy in energies.items():
            lamps = [lamp(kind, energy=energy, elevation_deg=60.0, azimuth_deg=-30.0,
                          color=[1.0, 0.8, 0.6])]
            out = f"{tmp}/world_{name}_{kind}.png"
            render_ok(render_request(model, out, f"{name}-{kind}", resolution=32, samples=4,
                                     light__world=world, light__lamps=lamps))
            rgba = read_rgba(out)
            assert rgba[..., :3][rgba[..., 3] == 255].mean() > 5, f"{name}/{kind} is black"
    print(f"ok: {len(FAMILIES)} material families, hdri/sky worlds, 4 lamp kinds; no magenta")


def check_errors(tmp):
    cases = [
        (render_request(model_ref("empty.obj"), f"{tmp}/e1.png", "e1"), "model"),
        (render_request(model_ref("no_such_file.obj"), f"{tmp}/e2.png", "e2"), "model"),
        (render_request(model_ref("cube.obj"), f"{tmp}/e3.png", "e3",
                        material__family="velvet"), "render"),
        (render_request(model_ref("cube.obj"), f"{tmp}/e4.png", "e4",
                        light__world={"kind": "hdri", "strength": 1.0, "hdri": f"{tmp}/no.exr",
                                      "rotation_deg": 0.0}), "render"),
    ]
    for request, kind in cases:
        reply = call(request)
        assert not reply["ok"] and reply["error_kind"] == kind, reply
        assert reply["id"] == request["id"] and "\n" not in reply["error"], reply
        assert not os.path.exists(request["output"]), "a failed request wrote an image"
    bad = json.loads(entry.handle_request("{not json"))
    assert not bad["ok"] and bad["error_kind"] == "render", bad
    missing_field = json.loads(entry.handle_request('{"type": "render", "id": "x"}'))
    assert not missing_field["ok"] and missing_field["id"] == "x", missing_field
    assert "request.model is missing" in missing_field["error"], missing_field
    no_size = render_request(model_ref("cube.obj"), f"{tmp}/e5.png", "e5")
    del no_size["params"]["scale"]["size"]
    reply = call(no_size)
    assert not reply["ok"] and "request.params.scale.size is missing" in reply["error"], reply
    # The contract, not Python, knows the kinds and their fields: a wrong kind, a field of
    # another kind, a value out of range are refused by the schema with the field's path.
    malformed = {
        "params.light.lamps[0].kind is \"laser\", expected one of: point, sun, spot, area":
            dict(light__lamps=[dict(lamp("point"), kind="laser")]),
        "request.params.light.lamps[0] has the unknown field 'side'":
            dict(light__lamps=[lamp("point", side=1.0)]),
        "request.params.material.roughness is 1.5, above its maximum 1.0":
            dict(material__roughness=1.5),
        "request.settings.device is \"tpu\", expected one of":
            dict(settings_device="tpu"),
    }
    for message, edits in malformed.items():
        device = edits.pop("settings_device", None)
        request = render_request(model_ref("cube.obj"), f"{tmp}/e6.png", "e6", **edits)
        if device:
            request["settings"]["device"] = device
        reply = call(request)
        assert not reply["ok"] and message in reply["error"], (message, reply)
        assert not os.path.exists(request["output"]), "a malformed request wrote an image"
    render_ok(render_request(model_ref("cube.obj"), f"{tmp}/after_errors.png", "after"))
    print("ok: bad models are 'model' errors, bad params 'render' errors; the worker goes on")


def check_memory_flat(tmp):
    def counts():
        return (len(bpy.data.objects), len(bpy.data.meshes), len(bpy.data.materials),
                len(bpy.data.images), len(bpy.data.lights))

    models = [model_ref("cube.obj"), model_ref("missing_texture.obj")]
    render_ok(render_request(models[0], f"{tmp}/mem.png", "mem0", resolution=16, samples=1))
    before = counts()
    for index in range(6):
        render_ok(render_request(models[index % 2], f"{tmp}/mem.png", f"mem{index}",
                                 resolution=16, samples=1,
                                 material__keep_original=index % 3 == 0))
    render_ok(render_request(models[0], f"{tmp}/mem.png", "mem-last", resolution=16, samples=1))
    assert counts() == before, f"datablocks grew over model switches: {before} -> {counts()}"
    print(f"ok: datablock counts stay flat over model switches {before}")


def check_sweet_home_model(tmp):
    if not os.path.isfile(SWEET_HOME_ARCHIVE):
        print(f"skip: {SWEET_HOME_ARCHIVE} not installed")
        return
    with zipfile.ZipFile(SWEET_HOME_ARCHIVE) as archive:
        names = [n for n in archive.namelist() if n.startswith("blendswap-cc-0/armchair/")]
        archive.extractall(f"{tmp}/sh3d", names)
    model = model_ref(f"{tmp}/sh3d/blendswap-cc-0/armchair/armchair.obj", key="sh3d:armchair")
    reply = render_ok(render_request(model, f"{tmp}/armchair.png", "armchair",
                                     material__keep_original=True))
    rgba = read_rgba(f"{tmp}/armchair.png")
    assert (rgba[..., 3] > 0).mean() > 0.01 and magenta_fraction(rgba) == 0.0, reply
    # Normalized: the model's largest side is 1, centred at the origin.
    root = entry.CURRENT_MODEL.root
    corners = [obj.matrix_world @ v.co for obj in root.children for v in obj.data.vertices]
    lo = np.min([tuple(c) for c in corners], axis=0)
    hi = np.max([tuple(c) for c in corners], axis=0)
    assert abs(max(hi - lo) - 1.0) < 1e-4 and np.abs((hi + lo) / 2).max() < 1e-4, (lo, hi)
    # Y-up file: after import the chair's height (its largest side) is along Z.
    assert np.argmax(hi - lo) == 2, f"armchair is not upright: extent {hi - lo}"
    print("ok: Sweet Home 3D armchair imports upright, centred, largest side 1")


BENCH_OBJ = """\
# A Y-up bench 2 long (x), 0.5 high, 0.5 deep, with a 1-high post at its +x end.
v -1 0 -0.25
v -1 0 0.25
v -1 0.5 -0.25
v -1 0.5 0.25
v 1 0 -0.25
v 1 0 0.25
v 1 0.5 -0.25
v 1 0.5 0.25
v 0.8 0.5 -0.25
v 0.8 0.5 0.25
v 0.8 1 -0.25
v 0.8 1 0.25
v 1 1 -0.25
v 1 1 0.25
f 1 2 4 3
f 5 13 14 6
f 1 5 6 2
f 3 4 8 7
f 1 3 7 5
f 2 6 8 4
f 9 10 12 11
f 13 11 12 14
f 9 11 13 7
f 10 8 14 12
"""


def check_model_rotation(tmp):
    """ModelRef.rotation (row-major, Blender's frame) turns the model before normalizing: the
    quarter turn Rust derives from Scopia#beige_sofa_2seats' modelRotation (0 0 -1 0 1 0 1 0
    0) takes the file's +x to -y, so the bench's post moves from +x to -y and, seen from +x,
    the bench turns from end-on to side-on with its post on the left."""
    path = f"{tmp}/bench.obj"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(BENCH_OBJ)
    quarter = [0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    views = {"camera__azimuth_deg": 0.0, "camera__elevation_deg": 0.0, "camera__distance": 3.0}
    masks, bounds = {}, {}
    for name, rotation in (("plain", None), ("turned", quarter)):
        model = model_ref(path, key=f"bench-{name}", rotation=rotation)
        render_ok(render_request(model, f"{tmp}/bench-{name}.png", name, **views))
        masks[name] = read_rgba(f"{tmp}/bench-{name}.png")[..., 3] > 0
        root = entry.CURRENT_MODEL.root
        corners = np.array([tuple(obj.matrix_world @ v.co)
                            for obj in root.children for v in obj.data.vertices])
        bounds[name] = corners
    plain, turned = bounds["plain"], bounds["turned"]
    extent = lambda c: c.max(axis=0) - c.min(axis=0)  # noqa: E731
    assert np.allclose(extent(plain), [1.0, 0.25, 0.5], atol=1e-6), extent(plain)
    assert np.allclose(extent(turned), [0.25, 1.0, 0.5], atol=1e-6), extent(turned)
    top = lambda c: c[c[:, 2] > c[:, 2].max() - 1e-6]  # noqa: E731
    assert np.allclose(top(plain)[:, 0].mean(), 0.45, atol=1e-6), top(plain)
    assert np.allclose(top(turned)[:, 1].mean(), -0.45, atol=1e-6), top(turned)
    # The masks, seen from +x (the image's right is +y): end-on, then side-on.
    width = {k: np.flatnonzero(m.any(axis=0)).ptp() + 1 for k, m in masks.items()}
    assert width["turned"] > 2.5 * width["plain"], width
    columns = np.flatnonzero(masks["turned"].any(axis=0))
    heights = masks["turned"].sum(axis=0)
    tallest = np.flatnonzero(heights == heights.max()).mean()
    assert tallest < (columns.min() + columns.max()) / 2, (tallest, columns.min(), columns.max())
    print(f"ok: ModelRef.rotation turns the model (seen from +x: {width['plain']} px end-on, "
          f"{width['turned']} px side-on, post on the left)")


def check_hdri_convention(tmp):
    """The equirectangular convention documented in lighting.py, checked on a marker image."""
    entry.shutdown()
    width, height = 64, 32
    u = (np.arange(width) + 0.5) / width
    v = (np.arange(height) + 0.5) / height  # bpy rows run bottom to top
    uu, vv = np.meshgrid(u, v)
    pixels = np.zeros((height, width, 4), np.float32)
    pixels[..., 3] = 1.0
    pixels[(abs(uu - 0.5) < 0.05) & (abs(vv - 0.5) < 0.1), 0] = 1.0  # red at u = 0.5
    pixels[(abs(uu - 0.25) < 0.05) & (abs(vv - 0.5) < 0.1), 1] = 1.0  # green at u = 0.25
    pixels[vv > 0.9, 2] = 1.0  # blue along the top rows
    image = bpy.data.images.new("markers", width, height, float_buffer=True)
    image.pixels.foreach_set(pixels.ravel())
    image.filepath_raw = f"{tmp}/markers.exr"
    image.file_format = "OPEN_EXR"
    image.save()
    bpy.data.images.remove(image)
    scene.setup_once()
    scene.apply_settings({"resolution": 8, "samples": 1, "denoise": False, "engine": "cycles",
                          "threads": 0, **LIGHT_PATH_DEFAULTS}, 1)
    bpy.context.scene.render.film_transparent = False
    expected = {
        (0, "+X"): 0, (0, "+Y"): 1, (0, "up"): 2,
        (90, "+Y"): 0, (90, "-X"): 1, (90, "up"): 2,
    }
    looks = {"+X": (0, 0), "+Y": (0, 90), "-X": (0, 180), "up": (89.9, 0)}
    try:
        for (rotation, look), channel in expected.items():
            lighting.apply_world({"kind": "hdri", "strength": 1.0, "hdri": f"{tmp}/markers.exr",
                                  "rotation_deg": rotation})
            elevation, azimuth = looks[look]
            # A camera just behind the origin, looking through it in the wanted direction.
            camera.apply_camera({"distance": 1e-3, "elevation_deg": -elevation,
                                 "azimuth_deg": azimuth + 180.0, "focal_length_mm": 300.0,
                                 "sensor_width_mm": 32.0, "roll_deg": 0.0,
                                 "look_at": [0.0, 0.0, 0.0]})
            output.render_to(f"{tmp}/look.png")
            centre = read_rgba(f"{tmp}/look.png")[4, 4, :3]
            assert np.argmax(centre) == channel and centre[channel] > 100, (
                f"rotation {rotation}, looking {look}: centre pixel {centre}, expected "
                f"channel {channel}"
            )
        # Roll: looking up-ish along +X, the sky's top band is at the picture's top; a roll of
        # +90 degrees turns the picture's content clockwise, so the band moves to the right.
        scene.apply_settings({"resolution": 16, "samples": 1, "denoise": False,
                              "engine": "cycles", "threads": 0, **LIGHT_PATH_DEFAULTS}, 1)
        lighting.apply_world({"kind": "hdri", "strength": 1.0, "hdri": f"{tmp}/markers.exr",
                              "rotation_deg": 0.0})
        sides = {}
        for roll in (0.0, 90.0):
            camera.apply_camera({"distance": 1e-3, "elevation_deg": -60.0, "azimuth_deg": 180.0,
                                 "focal_length_mm": 16.0, "sensor_width_mm": 32.0,
                                 "roll_deg": roll, "look_at": [0.0, 0.0, 0.0]})
            output.render_to(f"{tmp}/roll.png")
            blue = read_rgba(f"{tmp}/roll.png")[..., 2]
            sides[roll] = (blue[0, 8], blue[-1, 8], blue[8, 0], blue[8, -1])
        assert sides[0.0] == (255, 0, 0, 0), f"roll 0: (top, bottom, left, right) {sides[0.0]}"
        assert sides[90.0] == (0, 0, 0, 255), f"roll 90: (top, bottom, left, right) {sides[90.0]}"
        # Sky: the sun sits at azimuth sun_azimuth_deg, so looking that way is brightest.
        lighting.apply_world(sky_world(90.0, 10.0))
        brightness = {}
        for azimuth in (0.0, 90.0, 180.0, 270.0):
            camera.apply_camera({"distance": 1e-3, "elevation_deg": -10.0,
                                 "azimuth_deg": azimuth + 180.0, "focal_length_mm": 20.0,
                                 "sensor_width_mm": 32.0, "roll_deg": 0.0,
                                 "look_at": [0.0, 0.0, 0.0]})
            output.render_to(f"{tmp}/sky.png")
            brightness[azimuth] = float(read_rgba(f"{tmp}/sky.png")[..., :3].mean())
        assert max(brightness, key=brightness.get) == 90.0, f"sky brightness {brightness}"
    finally:
        bpy.context.scene.render.film_transparent = True
    print("ok: HDRI convention: +X is u=0.5, +Y is u=0.25, up is the top row, rotation is CCW;"
          " positive camera roll turns the picture clockwise; the sky's sun is at azimuth rotation_deg")


def check_denoise_deterministic(tmp):
    outputs = []
    for index, threads in enumerate((0, 2)):
        request = render_request(model_ref("cube.obj"), f"{tmp}/denoise_{index}.png",
                                 f"dn{index}", resolution=32, samples=4,
                                 material__family="noise")
        request["settings"]["denoise"] = True
        request["settings"]["threads"] = threads
        render_ok(request)
        outputs.append(read_rgba(request["output"]))
    assert np.array_equal(outputs[0], outputs[1]), "denoised renders differ between runs"
    print("ok: OpenImageDenoise on the CPU works and is deterministic (threads auto vs 2)")


def main():
    keep = "--keep" in sys.argv
    tmp = tempfile.mkdtemp(prefix="synthgen-check-")
    try:
        check_cube_and_determinism(tmp)
        check_extreme_coordinates(tmp)
        check_fresh_process_matches(tmp)
        check_missing_texture(tmp)
        check_denoise_deterministic(tmp)
        check_gpus_seen()
        check_device_auto(tmp)
        check_families_worlds_lamps(tmp)
        check_errors(tmp)
        check_memory_flat(tmp)
        check_sweet_home_model(tmp)
        check_model_rotation(tmp)
        check_hdri_convention(tmp)
        shutdown = json.loads(entry.handle_request('{"type": "shutdown"}'))
        assert shutdown["ok"], shutdown
        print("all worker checks passed")
    finally:
        if keep:
            print(f"images kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
