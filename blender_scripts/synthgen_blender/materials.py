"""Surface materials: keep the model's own, or build one Principled BSDF material per family.

Each family's node tree is built once (in the material `synthgen_<family>`) and later requests
only update its values: `_node` and `_link` return what exists, so one function both builds and
updates. Patterns use object-space coordinates scaled by `pattern_scale`, so they stick to the
model and do not depend on its UV maps (many models have none).
"""
import os

import bpy

FAMILIES = (
    "plastic",
    "metal",
    "rubber",
    "ceramic",
    "wood",
    "marble",
    "fabric",
    "fingerprints",
    "moss",
    "noise",
    "voronoi",
    "wave",
    "brick",
    "checker",
    "image",
)

SAMPLED_IMAGE_TAG = "synthgen_sampled_image"


def apply_material(loaded, params):
    """Assign materials to the loaded model for this request; return missing texture names."""
    family = params["family"]
    if family not in FAMILIES:
        raise ValueError(
            f"params.material.family is '{family}', expected one of: {', '.join(FAMILIES)}."
        )
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
    base = _rgba(params["base_color"])
    second = _rgba(params["secondary_color"])
    rough = _clamp(params["roughness"], 0.0, 1.0)
    metal = _clamp(params["metallic"], 0.0, 1.0)
    scale = max(float(params["pattern_scale"]), 1e-6)
    detail = _clamp(params["pattern_detail"], 0.0, 15.0)
    distortion = _clamp(params["pattern_distortion"], 0.0, 10.0)
    inp = bsdf.inputs
    inp["Base Color"].default_value = base
    inp["Roughness"].default_value = rough
    inp["Metallic"].default_value = metal
    inp["Coat Weight"].default_value = 0.0
    inp["Sheen Weight"].default_value = 0.0
    inp["Specular IOR Level"].default_value = 0.5

    if family == "plastic":
        inp["Metallic"].default_value = 0.0
    elif family == "metal":
        inp["Metallic"].default_value = 1.0
        inp["Roughness"].default_value = min(rough, 0.4)
    elif family == "rubber":
        inp["Metallic"].default_value = 0.0
        inp["Roughness"].default_value = max(rough, 0.75)
        inp["Specular IOR Level"].default_value = 0.25
    elif family == "ceramic":
        # A glossy glaze over a diffuse body.
        inp["Metallic"].default_value = 0.0
        inp["Roughness"].default_value = max(rough, 0.3)
        inp["Coat Weight"].default_value = 1.0
        inp["Coat Roughness"].default_value = min(rough, 0.1)
    elif family == "wood":
        coords = _coords(tree, scale)
        # Rings around the object's Z axis, wobbled by noise, as in a cut log.
        wave = _node(tree, "ShaderNodeTexWave", "wave")
        wave.wave_type = "RINGS"
        wave.rings_direction = "Z"
        wave.wave_profile = "SAW"
        _link(tree, coords, wave.inputs["Vector"])
        wave.inputs["Scale"].default_value = 1.0
        wave.inputs["Distortion"].default_value = 2.0 + distortion
        wave.inputs["Detail"].default_value = detail
        wave.inputs["Detail Scale"].default_value = 1.5
        _mix_colors(tree, wave.outputs["Factor"], base, second, inp["Base Color"])
        inp["Metallic"].default_value = 0.0
    elif family == "marble":
        coords = _coords(tree, scale)
        noise = _node(tree, "ShaderNodeTexNoise", "noise")
        _link(tree, coords, noise.inputs["Vector"])
        noise.inputs["Scale"].default_value = 1.0
        noise.inputs["Detail"].default_value = max(detail, 4.0)
        noise.inputs["Distortion"].default_value = 2.0 + distortion
        # Thin veins where the noise crosses 0.5.
        ramp = _node(tree, "ShaderNodeValToRGB", "veins")
        _ramp(ramp, [(0.0, base), (0.44, base), (0.5, second), (0.56, base), (1.0, base)])
        _link(tree, noise.outputs["Factor"], ramp.inputs["Factor"])
        _link(tree, ramp.outputs["Color"], inp["Base Color"])
        inp["Metallic"].default_value = 0.0
        inp["Roughness"].default_value = min(rough, 0.25)
    elif family == "fabric":
        coords = _coords(tree, scale)
        # A woven look: two perpendicular band waves give the weave as bump.
        weave_x = _node(tree, "ShaderNodeTexWave", "weave_x")
        weave_x.bands_direction = "X"
        weave_y = _node(tree, "ShaderNodeTexWave", "weave_y")
        weave_y.bands_direction = "Y"
        for wave in (weave_x, weave_y):
            _link(tree, coords, wave.inputs["Vector"])
            wave.inputs["Scale"].default_value = 8.0
            wave.inputs["Distortion"].default_value = distortion * 0.2
        both = _node(tree, "ShaderNodeMath", "weave")
        both.operation = "MULTIPLY"
        _link(tree, weave_x.outputs["Factor"], both.inputs[0])
        _link(tree, weave_y.outputs["Factor"], both.inputs[1])
        _bump(tree, both.outputs["Value"], 0.3, inp["Normal"])
        _mix_colors(tree, both.outputs["Value"], base, second, inp["Base Color"], 0.25)
        inp["Metallic"].default_value = 0.0
        inp["Roughness"].default_value = max(rough, 0.8)
        inp["Sheen Weight"].default_value = 1.0
    elif family == "fingerprints":
        coords = _coords(tree, scale)
        # Smudges: roughness swings between glossy and rough in blotches.
        noise = _node(tree, "ShaderNodeTexNoise", "smudge")
        _link(tree, coords, noise.inputs["Vector"])
        noise.inputs["Scale"].default_value = 3.0
        noise.inputs["Detail"].default_value = max(detail, 6.0)
        noise.inputs["Distortion"].default_value = distortion
        ramp = _node(tree, "ShaderNodeMapRange", "smudge_range")
        ramp.inputs["From Min"].default_value = 0.35
        ramp.inputs["From Max"].default_value = 0.65
        ramp.inputs["To Min"].default_value = min(rough, 0.15)
        ramp.inputs["To Max"].default_value = max(rough, 0.6)
        _link(tree, noise.outputs["Factor"], ramp.inputs["Value"])
        _link(tree, ramp.outputs["Result"], inp["Roughness"])
    elif family == "moss":
        coords = _coords(tree, scale)
        noise = _node(tree, "ShaderNodeTexNoise", "moss")
        _link(tree, coords, noise.inputs["Vector"])
        noise.inputs["Scale"].default_value = 4.0
        noise.inputs["Detail"].default_value = max(detail, 8.0)
        noise.inputs["Roughness"].default_value = 0.7
        noise.inputs["Distortion"].default_value = distortion
        # Patches of the secondary colour (the sampler gives moss greens) over the base.
        ramp = _node(tree, "ShaderNodeValToRGB", "moss_patches")
        _ramp(ramp, [(0.42, base), (0.58, second)])
        _link(tree, noise.outputs["Factor"], ramp.inputs["Factor"])
        _link(tree, ramp.outputs["Color"], inp["Base Color"])
        _bump(tree, noise.outputs["Factor"], 0.6, inp["Normal"])
        inp["Metallic"].default_value = 0.0
        inp["Roughness"].default_value = max(rough, 0.85)
    elif family == "noise":
        coords = _coords(tree, scale)
        noise = _node(tree, "ShaderNodeTexNoise", "noise")
        _link(tree, coords, noise.inputs["Vector"])
        noise.inputs["Scale"].default_value = 1.0
        noise.inputs["Detail"].default_value = detail
        noise.inputs["Distortion"].default_value = distortion
        # Noise sits near 0.5: stretch its middle so both colours show, not a muddy average.
        contrast = _node(tree, "ShaderNodeMapRange", "contrast")
        contrast.clamp = True
        contrast.inputs["From Min"].default_value = 0.38
        contrast.inputs["From Max"].default_value = 0.62
        _link(tree, noise.outputs["Factor"], contrast.inputs["Value"])
        _mix_colors(tree, contrast.outputs["Result"], base, second, inp["Base Color"])
    elif family == "voronoi":
        coords = _coords(tree, scale)
        cells = _node(tree, "ShaderNodeTexVoronoi", "cells")
        _link(tree, coords, cells.inputs["Vector"])
        cells.inputs["Scale"].default_value = 1.0
        cells.inputs["Detail"].default_value = min(detail, 8.0)
        cells.inputs["Randomness"].default_value = 1.0
        _mix_colors(tree, cells.outputs["Distance"], base, second, inp["Base Color"])
    elif family == "wave":
        coords = _coords(tree, scale)
        wave = _node(tree, "ShaderNodeTexWave", "wave")
        wave.wave_type = "BANDS"
        wave.bands_direction = "DIAGONAL"
        _link(tree, coords, wave.inputs["Vector"])
        wave.inputs["Scale"].default_value = 1.0
        wave.inputs["Distortion"].default_value = distortion
        wave.inputs["Detail"].default_value = detail
        _mix_colors(tree, wave.outputs["Factor"], base, second, inp["Base Color"])
    elif family == "brick":
        coords = _coords(tree, scale)
        brick = _node(tree, "ShaderNodeTexBrick", "brick")
        _link(tree, coords, brick.inputs["Vector"])
        brick.inputs["Scale"].default_value = 1.0
        brick.inputs["Color1"].default_value = base
        brick.inputs["Color2"].default_value = _rgba([0.5 * (a + b) for a, b in zip(base, second)])
        brick.inputs["Mortar"].default_value = second
        _link(tree, brick.outputs["Color"], inp["Base Color"])
        _bump(tree, brick.outputs["Factor"], 0.4, inp["Normal"])
    elif family == "checker":
        coords = _coords(tree, scale)
        checker = _node(tree, "ShaderNodeTexChecker", "checker")
        _link(tree, coords, checker.inputs["Vector"])
        checker.inputs["Scale"].default_value = 1.0
        checker.inputs["Color1"].default_value = base
        checker.inputs["Color2"].default_value = second
        _link(tree, checker.outputs["Color"], inp["Base Color"])
    elif family == "image":
        _apply_image(tree, params, scale, inp, missing)
    return material


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


def _clamp(value, low, high):
    return min(max(float(value), low), high)
