"""Surface materials: keep the model's own, or build one Principled BSDF material per family.

Each family's node tree is built once (in the material `synthgen_<family>`) and later requests
only update its values: `_node` and `_link` return what exists, so one function both builds and
updates. Patterns use object-space coordinates scaled by `pattern_scale`, so they stick to the
model and do not depend on its UV maps (many models have none).
"""
import os

import bpy


SAMPLED_IMAGE_TAG = "synthgen_sampled_image"


def apply_material(loaded, params):
    """Assign materials to the loaded model for this request; return missing texture names."""
    missing = []
    sampled = build_family_material(params, missing)
    for obj, originals in zip(loaded.meshes, loaded.original_materials):
        slots = obj.data.materials
        for index, original in enumerate(originals):
            keep = params["keep_original"] and original is not None
            if keep:
                broken = broken_textures(original)
                if broken:
                    missing.extend(n for n in broken if n not in missing)
                    keep = False
            wanted = original if keep else sampled
            if slots[index] != wanted:
                slots[index] = wanted
    return missing


def broken_textures(material):
    """File names of image textures in `material` that do not exist or do not load."""
    if material.node_tree is None:
        return []
    broken = []
    for node in material.node_tree.nodes:
        if node.type != "TEX_IMAGE":
            continue
        image = node.image
        if image is None:
            continue
        if image.source == "FILE":
            path = bpy.path.abspath(image.filepath)
            # `size` loads the file: (0, 0) means it exists but Blender cannot decode it.
            if not os.path.isfile(path) or tuple(image.size) == (0, 0):
                broken.append(os.path.basename(path) or image.name)
    return broken


def build_family_material(params, missing):
    """The material `synthgen_<family>`, (re)built or updated for `params`."""
    family = params["family"]
    name = f"synthgen_{family}"
    material = bpy.data.materials.get(name)
    if material is None:
        material = bpy.data.materials.new(name)
        # Survives orphan purges between models: it is reused by every later model.
        material.use_fake_user = True
        material.node_tree.nodes.clear()
    # Single-sided and flipped faces must render from both sides.
    material.use_backface_culling = False
    tree = material.node_tree
    bsdf = _node(tree, "ShaderNodeBsdfPrincipled", "bsdf")
    out = _node(tree, "ShaderNodeOutputMaterial", "output")
    _link(tree, bsdf.outputs["BSDF"], out.inputs["Surface"])
    v = Values(params)
    inp = bsdf.inputs
    inp["Base Color"].default_value = v.base
    inp["Roughness"].default_value = v.rough
    inp["Metallic"].default_value = v.metal
    inp["Coat Weight"].default_value = 0.0
    inp["Sheen Weight"].default_value = 0.0
    inp["Specular IOR Level"].default_value = 0.5
    FAMILY_BUILDERS[family](tree, inp, v, params, missing)
    return material


def _plastic(tree, inp, v, params, missing):
    """The plain Principled BSDF set above."""


def _metal(tree, inp, v, params, missing):
    """The plain Principled BSDF set above (the sampler makes it metallic)."""


def _rubber(tree, inp, v, params, missing):
    inp["Specular IOR Level"].default_value = 0.25


def _ceramic(tree, inp, v, params, missing):
    # A glossy glaze over a diffuse body.
    inp["Coat Weight"].default_value = 1.0
    inp["Coat Roughness"].default_value = v.rough2


def _wood(tree, inp, v, params, missing):
    coords = _coords(tree, v.scale)
    # Rings around the object's Z axis, wobbled by noise, as in a cut log.
    wave = _node(tree, "ShaderNodeTexWave", "wave")
    wave.wave_type = "RINGS"
    wave.rings_direction = "Z"
    wave.wave_profile = "SAW"
    _link(tree, coords, wave.inputs["Vector"])
    wave.inputs["Scale"].default_value = 1.0
    wave.inputs["Distortion"].default_value = 2.0 + v.distortion
    wave.inputs["Detail"].default_value = v.detail
    wave.inputs["Detail Scale"].default_value = 1.5
    _mix_colors(tree, wave.outputs["Factor"], v.base, v.second, inp["Base Color"])


def _marble(tree, inp, v, params, missing):
    coords = _coords(tree, v.scale)
    noise = _node(tree, "ShaderNodeTexNoise", "noise")
    _link(tree, coords, noise.inputs["Vector"])
    noise.inputs["Scale"].default_value = 1.0
    noise.inputs["Detail"].default_value = v.detail
    noise.inputs["Distortion"].default_value = 2.0 + v.distortion
    # Thin veins where the noise crosses 0.5.
    ramp = _node(tree, "ShaderNodeValToRGB", "veins")
    _ramp(ramp, [(0.0, v.base), (0.44, v.base), (0.5, v.second), (0.56, v.base), (1.0, v.base)])
    _link(tree, noise.outputs["Factor"], ramp.inputs["Factor"])
    _link(tree, ramp.outputs["Color"], inp["Base Color"])


def _fabric(tree, inp, v, params, missing):
    coords = _coords(tree, v.scale)
    # A woven look: two perpendicular band waves give the weave as bump.
    weave_x = _node(tree, "ShaderNodeTexWave", "weave_x")
    weave_x.bands_direction = "X"
    weave_y = _node(tree, "ShaderNodeTexWave", "weave_y")
    weave_y.bands_direction = "Y"
    for wave in (weave_x, weave_y):
        _link(tree, coords, wave.inputs["Vector"])
        wave.inputs["Scale"].default_value = 8.0
        wave.inputs["Distortion"].default_value = v.distortion * 0.2
    both = _node(tree, "ShaderNodeMath", "weave")
    both.operation = "MULTIPLY"
    _link(tree, weave_x.outputs["Factor"], both.inputs[0])
    _link(tree, weave_y.outputs["Factor"], both.inputs[1])
    _bump(tree, both.outputs["Value"], 0.3, inp["Normal"])
    _mix_colors(tree, both.outputs["Value"], v.base, v.second, inp["Base Color"], 0.25)
    inp["Sheen Weight"].default_value = 1.0


def _fingerprints(tree, inp, v, params, missing):
    coords = _coords(tree, v.scale)
    # Smudges: roughness swings between glossy and rough in blotches.
    noise = _node(tree, "ShaderNodeTexNoise", "smudge")
    _link(tree, coords, noise.inputs["Vector"])
    noise.inputs["Scale"].default_value = 3.0
    noise.inputs["Detail"].default_value = v.detail
    noise.inputs["Distortion"].default_value = v.distortion
    ramp = _node(tree, "ShaderNodeMapRange", "smudge_range")
    ramp.inputs["From Min"].default_value = 0.35
    ramp.inputs["From Max"].default_value = 0.65
    ramp.inputs["To Min"].default_value = v.rough
    ramp.inputs["To Max"].default_value = v.rough2
    _link(tree, noise.outputs["Factor"], ramp.inputs["Value"])
    _link(tree, ramp.outputs["Result"], inp["Roughness"])


def _moss(tree, inp, v, params, missing):
    coords = _coords(tree, v.scale)
    noise = _node(tree, "ShaderNodeTexNoise", "moss")
    _link(tree, coords, noise.inputs["Vector"])
    noise.inputs["Scale"].default_value = 4.0
    noise.inputs["Detail"].default_value = v.detail
    noise.inputs["Roughness"].default_value = 0.7
    noise.inputs["Distortion"].default_value = v.distortion
    # Patches of the secondary colour (the sampler gives moss greens) over the base.
    ramp = _node(tree, "ShaderNodeValToRGB", "moss_patches")
    _ramp(ramp, [(0.42, v.base), (0.58, v.second)])
    _link(tree, noise.outputs["Factor"], ramp.inputs["Factor"])
    _link(tree, ramp.outputs["Color"], inp["Base Color"])
    _bump(tree, noise.outputs["Factor"], 0.6, inp["Normal"])


def _noise(tree, inp, v, params, missing):
    coords = _coords(tree, v.scale)
    noise = _node(tree, "ShaderNodeTexNoise", "noise")
    _link(tree, coords, noise.inputs["Vector"])
    noise.inputs["Scale"].default_value = 1.0
    noise.inputs["Detail"].default_value = v.detail
    noise.inputs["Distortion"].default_value = v.distortion
    # Noise sits near 0.5: stretch its middle so both colours show, not a muddy average.
    contrast = _node(tree, "ShaderNodeMapRange", "contrast")
    contrast.clamp = True
    contrast.inputs["From Min"].default_value = 0.38
    contrast.inputs["From Max"].default_value = 0.62
    _link(tree, noise.outputs["Factor"], contrast.inputs["Value"])
    _mix_colors(tree, contrast.outputs["Result"], v.base, v.second, inp["Base Color"])


def _voronoi(tree, inp, v, params, missing):
    coords = _coords(tree, v.scale)
    cells = _node(tree, "ShaderNodeTexVoronoi", "cells")
    _link(tree, coords, cells.inputs["Vector"])
    cells.inputs["Scale"].default_value = 1.0
    cells.inputs["Detail"].default_value = v.detail
    cells.inputs["Randomness"].default_value = 1.0
    _mix_colors(tree, cells.outputs["Distance"], v.base, v.second, inp["Base Color"])


def _wave(tree, inp, v, params, missing):
    coords = _coords(tree, v.scale)
    wave = _node(tree, "ShaderNodeTexWave", "wave")
    wave.wave_type = "BANDS"
    wave.bands_direction = "DIAGONAL"
    _link(tree, coords, wave.inputs["Vector"])
    wave.inputs["Scale"].default_value = 1.0
    wave.inputs["Distortion"].default_value = v.distortion
    wave.inputs["Detail"].default_value = v.detail
    _mix_colors(tree, wave.outputs["Factor"], v.base, v.second, inp["Base Color"])


def _brick(tree, inp, v, params, missing):
    coords = _coords(tree, v.scale)
    brick = _node(tree, "ShaderNodeTexBrick", "brick")
    _link(tree, coords, brick.inputs["Vector"])
    brick.inputs["Scale"].default_value = 1.0
    brick.inputs["Color1"].default_value = v.base
    brick.inputs["Color2"].default_value = _rgba([0.5 * (a + b) for a, b in zip(v.base, v.second)])
    brick.inputs["Mortar"].default_value = v.second
    _link(tree, brick.outputs["Color"], inp["Base Color"])
    _bump(tree, brick.outputs["Factor"], 0.4, inp["Normal"])


def _checker(tree, inp, v, params, missing):
    coords = _coords(tree, v.scale)
    checker = _node(tree, "ShaderNodeTexChecker", "checker")
    _link(tree, coords, checker.inputs["Vector"])
    checker.inputs["Scale"].default_value = 1.0
    checker.inputs["Color1"].default_value = v.base
    checker.inputs["Color2"].default_value = v.second
    _link(tree, checker.outputs["Color"], inp["Base Color"])


def _image(tree, inp, v, params, missing):
    _apply_image(tree, params, v.scale, inp, missing)


FAMILY_BUILDERS = {
    "plastic": _plastic,
    "metal": _metal,
    "rubber": _rubber,
    "ceramic": _ceramic,
    "wood": _wood,
    "marble": _marble,
    "fabric": _fabric,
    "fingerprints": _fingerprints,
    "moss": _moss,
    "noise": _noise,
    "voronoi": _voronoi,
    "wave": _wave,
    "brick": _brick,
    "checker": _checker,
    "image": _image,
}
FAMILIES = tuple(FAMILY_BUILDERS)


def _apply_image(tree, params, scale, inp, missing):
    """Image texture with object-space box projection; a missing image falls back to base_color."""
    path = params.get("image")
    tex = _node(tree, "ShaderNodeTexImage", "image")
    tex.projection = "BOX"
    tex.projection_blend = 0.2
    image = _load_sampled_image(path) if path else None
    if image is None:
        if path:
            missing.append(os.path.basename(str(path)))
        tex.image = None
        _unlink(tree, inp["Base Color"])
        return
    tex.image = image
    coords = _coords(tree, scale)
    _link(tree, coords, tex.inputs["Vector"])
    _link(tree, tex.outputs["Color"], inp["Base Color"])


def _load_sampled_image(path):
    """Load the family-image texture, dropping the previous one so images do not pile up."""
    path = os.path.abspath(str(path))
    for image in list(bpy.data.images):
        if image.get(SAMPLED_IMAGE_TAG) and bpy.path.abspath(image.filepath) != path:
            bpy.data.images.remove(image)
    if not os.path.isfile(path):
        return None
    try:
        image = bpy.data.images.load(path, check_existing=True)
    except RuntimeError:
        return None
    image[SAMPLED_IMAGE_TAG] = True
    if tuple(image.size) == (0, 0):
        bpy.data.images.remove(image)
        return None
    return image


def _coords(tree, scale):
    """Object-space texture coordinates times `scale` (one shared Mapping node per tree)."""
    texcoord = _node(tree, "ShaderNodeTexCoord", "texcoord")
    mapping = _node(tree, "ShaderNodeMapping", "mapping")
    _link(tree, texcoord.outputs["Object"], mapping.inputs["Vector"])
    mapping.inputs["Scale"].default_value = (scale, scale, scale)
    return mapping.outputs["Vector"]


def _mix_colors(tree, factor, color_a, color_b, target, strength=1.0):
    """target <- mix(color_a, color_b, factor * strength)."""
    mix = _node(tree, "ShaderNodeMix", "mix_colors")
    mix.data_type = "RGBA"
    mix.clamp_factor = True
    if strength != 1.0:
        weight = _node(tree, "ShaderNodeMath", "mix_weight")
        weight.operation = "MULTIPLY"
        weight.inputs[1].default_value = strength
        _link(tree, factor, weight.inputs[0])
        factor = weight.outputs["Value"]
    _link(tree, factor, _socket(mix.inputs, "Factor_Float"))
    _socket(mix.inputs, "A_Color").default_value = color_a
    _socket(mix.inputs, "B_Color").default_value = color_b
    _link(tree, _socket(mix.outputs, "Result_Color"), target)


def _bump(tree, height, strength, target):
    bump = _node(tree, "ShaderNodeBump", "bump")
    bump.inputs["Strength"].default_value = strength
    bump.inputs["Distance"].default_value = 0.02
    _link(tree, height, bump.inputs["Height"])
    _link(tree, bump.outputs["Normal"], target)


def _ramp(node, stops):
    elements = node.color_ramp.elements
    while len(elements) > len(stops):
        elements.remove(elements[-1])
    while len(elements) < len(stops):
        elements.new(1.0)
    for element, (position, color) in zip(elements, stops):
        element.position = position
        element.color = color


def _node(tree, kind, name):
    node = tree.nodes.get(name)
    if node is None:
        node = tree.nodes.new(kind)
        node.name = name
    return node


def _link(tree, from_socket, to_socket):
    if any(link.from_socket == from_socket for link in to_socket.links):
        return
    tree.links.new(from_socket, to_socket)


def _unlink(tree, to_socket):
    for link in list(to_socket.links):
        tree.links.remove(link)


def _socket(sockets, identifier):
    for socket in sockets:
        if socket.identifier == identifier:
            return socket
    raise KeyError(identifier)


def _rgba(rgb):
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]), 1.0)


class Values:
    """A request's surface values as Blender wants them (numbers as given, colours as RGBA)."""

    def __init__(self, params):
        self.base = _rgba(params["base_color"])
        self.second = _rgba(params["secondary_color"])
        self.rough = float(params["roughness"])
        self.rough2 = float(params["secondary_roughness"])
        self.metal = float(params["metallic"])
        self.scale = float(params["pattern_scale"])
        self.detail = float(params["pattern_detail"])
        self.distortion = float(params["pattern_distortion"])
