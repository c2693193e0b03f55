"""Render the still and move it into place atomically."""
import os
import tempfile
import time

import bpy


def render_to(output):
    """Render to `output` (PNG) through a temporary name; return seconds spent rendering.

    Only `bpy.ops.render.render` is timed. Blender expands '#' in output paths to frame
    numbers, so a path containing '#' is rendered in TMPDIR first and then moved.
    """
    output = os.path.abspath(str(output))
    directory = os.path.dirname(output)
    os.makedirs(directory, exist_ok=True)
    base = os.path.basename(output)
    staging = directory
    if "#" in directory:
        staging = tempfile.gettempdir()
    # Same folder as the output when possible, so the final rename is atomic.
    temp = os.path.join(staging, f".{base.replace('#', '_')}.{os.getpid()}.tmp.png")
    scene = bpy.context.scene
    scene.render.filepath = temp
    try:
        start = time.perf_counter()
        result = bpy.ops.render.render(write_still=True)
        seconds = time.perf_counter() - start
        if "FINISHED" not in result or not os.path.isfile(temp):
            raise RuntimeError(
                f"Blender did not write the image {output} (render returned {result})."
            )
        if staging == directory:
            os.replace(temp, output)
        else:
            _move_across(temp, output)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
    return seconds


def _move_across(temp, output):
    """Copy into the output folder under a temporary name, then rename (atomic for readers)."""
    directory = os.path.dirname(output)
    fd, near = tempfile.mkstemp(prefix=".synthgen-", suffix=".tmp.png", dir=directory)
    try:
        with os.fdopen(fd, "wb") as dst, open(temp, "rb") as src:
            dst.write(src.read())
        os.replace(near, output)
    finally:
        if os.path.exists(near):
            os.remove(near)
