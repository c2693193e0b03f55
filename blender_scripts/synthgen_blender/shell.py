"""Points on a spherical shell and "look at" rotations, shared by lamps and the camera.

Convention (the same as the Rust sampler): azimuth 0 is the +X axis and grows
counter-clockwise seen from +Z (90 = +Y); elevation is measured from the XY plane (90 = +Z).
"""
import math

from mathutils import Quaternion, Vector


def shell_point(radius, elevation_deg, azimuth_deg, center=(0.0, 0.0, 0.0)):
    el = math.radians(float(elevation_deg))
    az = math.radians(float(azimuth_deg))
    r = float(radius)
    return Vector(
        (
            center[0] + r * math.cos(el) * math.cos(az),
            center[1] + r * math.cos(el) * math.sin(az),
            center[2] + r * math.sin(el),
        )
    )


def look_at_quaternion(eye, target, roll_deg=0.0):
    """Rotation that points an object's local -Z from `eye` at `target`, local +Y up.

    Blender cameras and lamps shine along local -Z. Roll turns about that viewing axis; a
    positive roll turns the picture's content clockwise (the camera counter-clockwise as seen
    from behind it).
    """
    direction = Vector(target) - Vector(eye)
    if direction.length < 1e-12:
        direction = Vector((0.0, 0.0, -1.0))
    # Straight up or down has no defined "up": use +Y as the image's up there.
    horizontal = math.hypot(direction.x, direction.y)
    if horizontal < 1e-9 * direction.length:
        quat = Quaternion((1.0, 0.0, 0.0, 0.0)) if direction.z < 0 else Quaternion(
            (1.0, 0.0, 0.0), math.pi
        )
    else:
        quat = direction.to_track_quat("-Z", "Y")
    if roll_deg:
        quat = quat @ Quaternion((0.0, 0.0, 1.0), math.radians(float(roll_deg)))
    return quat
