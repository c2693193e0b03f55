"""Values that shape the image but are fixed on the Blender side, listed in one place.

Everything a user may vary crosses the contract (src/scene/contract.rs) and is recorded in the
manifest. These stay fixed because varying them would only cost time or break a convention the
Rust side relies on; changing one changes every render (and the byte-identity check,
scripts/render_digest.sh, shows it). The per-family shader values live beside their node trees
in materials.py.
"""

# Camera clip planes. Models are normalized to a largest side of 1 (times the object scale, a
# few units at most), so nothing real is nearer than 1 cm; the far plane follows the distance.
CLIP_START = 0.01
CLIP_END_MIN = 100.0
CLIP_END_PER_DISTANCE = 4.0

# HOSEK_WILKIE is analytic: about 0.02 s per render. The scattering skies (SINGLE_ and
# MULTIPLE_SCATTERING) precompute a sky image for every still: 0.45 s and 0.7 s per render
# measured at 32 px on 2 cores, more than the whole 128 px image costs.
SKY_TYPE = "HOSEK_WILKIE"

# Cycles' AUTOMATIC importance map for a 1024x512 HDRI costs about 3 s per render (it is
# rebuilt for every still); a 256 map costs about 0.03 s and is enough for soft world light.
IMPORTANCE_MAP_RESOLUTION = 256
