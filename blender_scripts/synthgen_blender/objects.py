"""Import one model, normalize it (centred, largest side 1) and remove it again.

The mesh data is normalized once at load (centred at the origin, largest side 1) and every part
is parented to one empty, `synthgen_model_root`, that carries the per-request object scale: a
reused model only changes the empty's scale.
"""
import os

import bpy
import numpy as np
from mathutils import Matrix, Vector

ROOT_NAME = "synthgen_model_root"


class ModelError(Exception):
    """The model itself is at fault (missing file, import failed, no geometry)."""


class LoadedModel:
    """What is kept between requests that share a model key."""

    def __init__(self, key, root, meshes, original_materials):
        self.key = key
        self.root = root
        # Mesh objects, in import order.
        self.meshes = meshes
        # Per mesh object: the materials of its slots as imported (None for an empty slot).
        self.original_materials = original_materials


def load_model(model):
    """Import `model` (a ModelRef dict) and normalize it. Raises ModelError on any failure."""
    path = str(model["path"])
    # format and up_axis are required by the schema every request is checked against.
    fmt = str(model["format"]).lower()
    if fmt != "obj":
        raise ModelError(f"model {model['key']}: format '{fmt}' is not supported, only 'obj'.")
    if not os.path.isfile(path):
        raise ModelError(f"model {model['key']}: file {path} does not exist.")
    up_axis = str(model["up_axis"]).upper()
    # Blender is Z-up: a Y-up file needs the usual (-Z forward, Y up) conversion, a Z-up none.
    if up_axis == "Y":
        forward_axis = "NEGATIVE_Z"
    elif up_axis == "Z":
        forward_axis = "Y"
    else:
        raise ModelError(f"model {model['key']}: up_axis '{up_axis}' must be 'Y' or 'Z'.")

    before = set(bpy.data.objects)
    try:
        result = bpy.ops.wm.obj_import(
            filepath=path, up_axis=up_axis, forward_axis=forward_axis, validate_meshes=True
        )
    except RuntimeError as err:
        _remove_objects(set(bpy.data.objects) - before)
        raise ModelError(f"model {model['key']}: OBJ import of {path} failed: {one_line(err)}")
    imported = [o for o in bpy.data.objects if o not in before]
    if "FINISHED" not in result:
        _remove_objects(imported)
        raise ModelError(f"model {model['key']}: OBJ import of {path} did not finish ({result}).")
    # Sort by name so that the order (and so the scene) is the same on every load.
    meshes = sorted((o for o in imported if o.type == "MESH"), key=lambda o: o.name)
    face_count = sum(len(o.data.polygons) for o in meshes)
    if face_count == 0:
        _remove_objects(imported)
        raise ModelError(f"model {model['key']}: {path} has no faces to render.")

    # The importer sets the axis conversion as object rotation: bake world matrices first so
    # the bounding box below is exact whatever the transforms are.
    bpy.context.view_layer.update()
    # The rest of the catalog's own rotation (Rust computed it: ModelRef.rotation), applied on
    # top of each part's world matrix before the bounding box is taken.
    turn = _rotation_matrix(model.get("rotation"))
    world = {o: o.matrix_world.copy() if turn is None else turn @ o.matrix_world for o in meshes}
    lo, hi = _world_bounds(meshes, world)
    size = float(np.max(hi - lo))
    if not np.isfinite(size) or size <= 0.0:
        _remove_objects(imported)
        raise ModelError(
            f"model {model['key']}: {path} has a degenerate or non-finite bounding box "
            f"({lo.tolist()} to {hi.tolist()})."
        )
    center = (lo + hi) / 2.0

    # Bake the normalization into the mesh data: each part's local space is then the model's
    # normalized space (centred, largest side 1), which object-space patterns rely on, and the
    # root empty only carries the per-request size.
    base_scale = 1.0 / size
    normalize = Matrix.Diagonal((base_scale, base_scale, base_scale, 1.0)) @ Matrix.Translation(
        Vector(tuple(-center))
    )
    root = bpy.data.objects.new(ROOT_NAME, None)
    bpy.context.scene.collection.objects.link(root)
    for obj in meshes:
        if obj.data.users > 1:
            obj.data = obj.data.copy()
        obj.data.transform(normalize @ world[obj])
    for obj in imported:
        obj.parent = None
        obj.matrix_parent_inverse.identity()
        obj.matrix_world = Matrix.Identity(4)
        obj.parent = root
    # Empties or other non-mesh objects the importer made carry nothing to render.
    _remove_objects([o for o in imported if o.type != "MESH"])

    original_materials = []
    for obj in meshes:
        mesh = obj.data
        if len(mesh.materials) == 0:
            # One empty slot, so the sampled material has a place to go.
            mesh.materials.append(None)
        for material in mesh.materials:
            if material is not None:
                # Single-sided faces must show from both sides (Cycles ignores it; EEVEE not).
                material.use_backface_culling = False
        original_materials.append([slot for slot in mesh.materials])
    return LoadedModel(model["key"], root, meshes, original_materials)


def apply_scale(loaded, size):
    """Scale the normalized model (centred, largest side 1) so its largest side is `size`."""
    size = float(size)
    if not np.isfinite(size) or size <= 0.0:
        raise ValueError(f"params.scale.size must be a positive number, got {size}.")
    loaded.root.scale = (size, size, size)
    loaded.root.location = (0.0, 0.0, 0.0)
    # No view_layer.update() here: nothing reads the scaled matrices before the render, and
    # the render operator updates the view layer itself (an update here was done twice).


def unload_model(loaded):
    """Remove the model's objects and everything only they used (meshes, materials, images)."""
    if loaded is None:
        return
    objects = [loaded.root]
    try:
        objects += list(loaded.root.children_recursive)
    except ReferenceError:
        objects = []
    _remove_objects(objects)
    purge_orphans()


def purge_orphans():
    """Drop datablocks nothing uses any more, so memory stays flat over thousands of models."""
    bpy.data.orphans_purge(do_local_ids=True, do_linked_ids=True, do_recursive=True)


def _remove_objects(objects):
    meshes = set()
    for obj in objects:
        if obj.type == "MESH" and obj.data is not None:
            meshes.add(obj.data)
        bpy.data.objects.remove(obj, do_unlink=True)
    for mesh in meshes:
        if mesh.users == 0:
            bpy.data.meshes.remove(mesh)
    purge_orphans()


def _rotation_matrix(rotation):
    """The 4x4 of a row-major 3x3 rotation (ModelRef.rotation), or None when absent."""
    if rotation is None:
        return None
    r = [float(v) for v in rotation]
    return Matrix((r[0:3], r[3:6], r[6:9])).to_4x4()


def _world_bounds(meshes, world):
    lows, highs = [], []
    for obj in meshes:
        mesh = obj.data
        count = len(mesh.vertices)
        if count == 0:
            continue
        co = np.empty(count * 3, dtype=np.float64)
        mesh.vertices.foreach_get("co", co)
        co = co.reshape(-1, 3)
        matrix = np.array(world[obj], dtype=np.float64)
        placed = co @ matrix[:3, :3].T + matrix[:3, 3]
        lows.append(placed.min(axis=0))
        highs.append(placed.max(axis=0))
    return np.min(lows, axis=0), np.max(highs, axis=0)


def one_line(err):
    """An exception as one line, for the protocol's `error` field."""
    text = " ".join(str(err).split())
    return text or type(err).__name__
