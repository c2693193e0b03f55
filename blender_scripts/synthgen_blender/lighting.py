"""Lamps on a shell around the model, and the world (uniform colour, HDRI or procedural sky).

The film is transparent, so the world lights the model but never shows in the picture; for the
background kind "hdri" the Rust compositor projects the same HDRI itself. Equirectangular
convention used here, so that both sides agree (checked by tests/check_worker.py):

  * Without rotation, a world direction d = (x, y, z) (unit, Blender Z-up) reads the image at
        u = 0.5 - atan2(y, x) / (2 pi),   v = 0.5 + asin(z) / pi,
    with u = 0 the image's left column, u = 1 its right, v = 1 its TOP row and v = 0 its bottom.
    So +X is the image centre (u = 0.5), +Y is u = 0.25, -Y is u = 0.75, -X is the left/right
    seam, straight up is the top row.
  * Sky worlds: the sun is at elevation `sun_elevation_deg` and azimuth `sun_azimuth_deg` (the
    shell convention of shell.py: 0 = +X, counter-clockwise seen from +Z).
  * `rotation_deg` = theta turns the environment counter-clockwise seen from +Z (the same sense
    as azimuth): what was at direction d is now at Rz(theta) d. To look up a direction d, first
    rotate it back: d' = Rz(-theta) d, i.e. u = 0.5 - (atan2(y, x) - theta) / (2 pi), wrapped
    into [0, 1). Blender's Mapping node (type POINT) rotates the lookup vector, so it gets
    -theta.
"""
import math
import os

import bpy

from .fixed import IMPORTANCE_MAP_RESOLUTION, SKY_TYPE
from .shell import look_at_quaternion, shell_point

LAMP_PREFIX = "synthgen_lamp_"
WORLD_NAME = "synthgen_world"
HDRI_TAG = "synthgen_hdri"
# HDRIs kept loaded between requests: Blender bundles 8 (about 8 MB each decoded), so a run
# over them decodes each file once instead of once per view.
HDRI_KEEP = 8
# Absolute paths of the kept HDRIs, least recently used first.
_HDRI_ORDER = []


def _point(data, lamp):
    data.shadow_soft_size = float(lamp["shadow_radius"])


def _sun(data, lamp):
    data.angle = math.radians(float(lamp["angle_deg"]))


def _spot(data, lamp):
    data.shadow_soft_size = float(lamp["shadow_radius"])
    data.spot_size = math.radians(float(lamp["spot_angle_deg"]))
    data.spot_blend = float(lamp["spot_blend"])


def _area(data, lamp):
    data.shape = "SQUARE"
    data.size = float(lamp["side"])


# Lamp kind -> (Blender light type, what sets the kind's own fields).
LAMP_BUILDERS = {
    "point": ("POINT", _point),
    "sun": ("SUN", _sun),
    "spot": ("SPOT", _spot),
    "area": ("AREA", _area),
}


def apply_lamps(lamps):
    """Replace all lamps by those of this request (lamps are cheap to create)."""
    for obj in [o for o in bpy.data.objects if o.name.startswith(LAMP_PREFIX)]:
        data = obj.data
        bpy.data.objects.remove(obj, do_unlink=True)
        if data is not None and data.users == 0:
            bpy.data.lights.remove(data)
    scene = bpy.context.scene
    for index, lamp in enumerate(lamps):
        light_type, apply_kind = LAMP_BUILDERS[lamp["kind"]]
        name = f"{LAMP_PREFIX}{index}"
        data = bpy.data.lights.new(name, light_type)
        data.color = tuple(float(c) for c in lamp["color"])
        data.energy = float(lamp["energy"])
        apply_kind(data, lamp)
        obj = bpy.data.objects.new(name, data)
        scene.collection.objects.link(obj)
        eye = shell_point(lamp["radius"], lamp["elevation_deg"], lamp["azimuth_deg"])
        obj.rotation_mode = "QUATERNION"
        obj.location = eye
        obj.rotation_quaternion = look_at_quaternion(eye, (0.0, 0.0, 0.0))


def apply_world(params):
    """Set the world shader, by kind through WORLD_BUILDERS.

    An HDRI that does not load is an error, not a fallback: the compositor needs it too.
    """
    world = bpy.data.worlds.get(WORLD_NAME)
    if world is None:
        world = bpy.data.worlds.new(WORLD_NAME)
    bpy.context.scene.world = world
    # The importance map's size is fixed (fixed.py says why).
    world.cycles.sampling_method = "MANUAL"
    world.cycles.sample_map_resolution = IMPORTANCE_MAP_RESOLUTION
    tree = world.node_tree
    tree.nodes.clear()
    background = tree.nodes.new("ShaderNodeBackground")
    output = tree.nodes.new("ShaderNodeOutputWorld")
    tree.links.new(background.outputs["Background"], output.inputs["Surface"])
    background.inputs["Strength"].default_value = float(params["strength"])
    WORLD_BUILDERS[params["kind"]](tree, background, params)


def _uniform_world(tree, background, params):
    color = params["color"]
    background.inputs["Color"].default_value = (
        float(color[0]),
        float(color[1]),
        float(color[2]),
        1.0,
    )


def _hdri_world(tree, background, params):
    image = _load_hdri(params["hdri"])
    if image is None:
        raise ValueError(
            f"params.light.world.hdri ({params['hdri']}) does not exist or cannot be "
            "read as an image; point it at an equirectangular .exr/.hdr file."
        )
    coords = tree.nodes.new("ShaderNodeTexCoord")
    mapping = tree.nodes.new("ShaderNodeMapping")
    mapping.vector_type = "POINT"
    # The Mapping node rotates the lookup vector: -theta turns the environment by +theta.
    rotation = math.radians(float(params["rotation_deg"]))
    mapping.inputs["Rotation"].default_value = (0.0, 0.0, -rotation)
    env = tree.nodes.new("ShaderNodeTexEnvironment")
    env.projection = "EQUIRECTANGULAR"
    env.image = image
    tree.links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
    tree.links.new(mapping.outputs["Vector"], env.inputs["Vector"])
    tree.links.new(env.outputs["Color"], background.inputs["Color"])


def _sky_world(tree, background, params):
    sky = tree.nodes.new("ShaderNodeTexSky")
    sky.sky_type = SKY_TYPE
    sky.turbidity = float(params["turbidity"])
    sky.ground_albedo = float(params["ground_albedo"])
    sun = shell_point(1.0, params["sun_elevation_deg"], params["sun_azimuth_deg"])
    sky.sun_direction = tuple(sun)
    tree.links.new(sky.outputs["Color"], background.inputs["Color"])


WORLD_BUILDERS = {"uniform": _uniform_world, "hdri": _hdri_world, "sky": _sky_world}


def _load_hdri(path):
    """The HDRI at `path`, loaded once and kept (up to HDRI_KEEP, least recently used dropped).

    Kept images have a fake user, so the orphan purge after a model change leaves them: the next
    view with the same HDRI skips reading and decoding the file again.
    """
    wanted = os.path.abspath(str(path))
    if not os.path.isfile(wanted):
        return None
    try:
        image = bpy.data.images.load(wanted, check_existing=True)
    except RuntimeError:
        return None
    if tuple(image.size) == (0, 0):
        bpy.data.images.remove(image)
        return None
    image[HDRI_TAG] = True
    image.use_fake_user = True
    if wanted in _HDRI_ORDER:
        _HDRI_ORDER.remove(wanted)
    _HDRI_ORDER.append(wanted)
    while len(_HDRI_ORDER) > HDRI_KEEP:
        dropped = _HDRI_ORDER.pop(0)
        for other in list(bpy.data.images):
            if other.get(HDRI_TAG) and bpy.path.abspath(other.filepath) == dropped:
                bpy.data.images.remove(other)
    return image
