"""Blender side of synthgen: applies one `SceneParams` (decided in Rust) to a Blender scene.

The Rust worker imports `synthgen_blender.entry` and calls `handle_request(json_str)` once per
protocol line (src/scene/contract.rs). Nothing here decides WHAT to render: every value comes
from the request, so the same request always gives the same picture.
"""
