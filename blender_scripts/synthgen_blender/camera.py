"""The camera: on a shell around the origin (where the model is centred), aimed at `look_at`."""
import bpy

from .fixed import CLIP_END_MIN, CLIP_END_PER_DISTANCE, CLIP_START
from .shell import look_at_quaternion, shell_point

CAMERA_NAME = "synthgen_camera"


def apply_camera(params):
    scene = bpy.context.scene
    camera = bpy.data.objects.get(CAMERA_NAME)
    if camera is None:
        data = bpy.data.cameras.new(CAMERA_NAME)
        camera = bpy.data.objects.new(CAMERA_NAME, data)
        scene.collection.objects.link(camera)
    distance = float(params["distance"])
    if distance <= 0.0:
        raise ValueError(f"params.camera.distance must be positive, got {distance}.")
    focal = float(params["focal_length_mm"])
    sensor = float(params["sensor_width_mm"])
    if focal <= 0.0 or sensor <= 0.0:
        raise ValueError(
            f"params.camera.focal_length_mm ({focal}) and sensor_width_mm ({sensor}) "
            "must both be positive."
        )
    data = camera.data
    data.type = "PERSP"
    data.lens_unit = "MILLIMETERS"
    data.lens = focal
    data.sensor_fit = "HORIZONTAL"
    data.sensor_width = sensor
    data.shift_x = 0.0
    data.shift_y = 0.0
    data.clip_start = CLIP_START
    data.clip_end = max(CLIP_END_MIN, CLIP_END_PER_DISTANCE * distance)
    eye = shell_point(distance, params["elevation_deg"], params["azimuth_deg"])
    camera.rotation_mode = "QUATERNION"
    camera.location = eye
    camera.rotation_quaternion = look_at_quaternion(eye, params["look_at"], params["roll_deg"])
    scene.camera = camera
