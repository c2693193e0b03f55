"""Writes CLASSES x PER_CLASS random 320 x 240 PNGs as an ImageFolder (bench data).

usage: write_images.py OUT CLASSES PER_CLASS
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def main():
    out, classes, per_class = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = out / f"class{c:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            # Smooth colour fields (noise upscaled) compress and decode like photos, not noise.
            small = rng.integers(0, 256, size=(15, 20, 3), dtype=np.uint8)
            Image.fromarray(small).resize((320, 240), Image.BILINEAR).save(folder / f"{i:03d}.png")


if __name__ == "__main__":
    main()
