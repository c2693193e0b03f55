"""Tiles one rendered dataset (scripts/contact_sheet.sh) into a labelled contact sheet PNG.

Usage: contact_sheet.py DATASET_DIR OUT_PNG CLASS AZIMUTH
Each model's first image, on light grey through its mask, the centre 80 x 80 of the 128 px
render enlarged to 128, labelled with the catalog key (the part after "sweethome3d:").
"""
import json
import sys

from PIL import Image, ImageDraw

TILE, COLS, CROP = 128, 8, 80


def main():
    src, dst, cls, azimuth = sys.argv[1:5]
    rows = [json.loads(line) for line in open(f"{src}/manifest.jsonl", encoding="utf-8")]
    rows.sort(key=lambda r: r["index"])
    seen, first = set(), []
    for r in rows:
        if r["model"]["key"] not in seen:
            seen.add(r["model"]["key"])
            first.append(r)
    n = len(first)
    height = 14 + ((n + COLS - 1) // COLS) * (TILE + 12)
    sheet = Image.new("RGB", (COLS * TILE, height), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((2, 1), f"{cls}: {n} models; camera distance 3.5, elevation 20, azimuth {azimuth}"
              " (models face azimuth 270)", fill="black")
    for k, r in enumerate(first):
        rgb = Image.open(f"{src}/{r['path']}").convert("RGB")
        mask = Image.open(f"{src}/{r['mask']}").convert("L")
        tile = Image.composite(rgb, Image.new("RGB", rgb.size, (230, 230, 230)), mask)
        w, h = tile.size
        box = ((w - CROP) // 2, (h - CROP) // 2, (w + CROP) // 2, (h + CROP) // 2)
        tile = tile.crop(box).resize((TILE, TILE), Image.LANCZOS)
        x, y = (k % COLS) * TILE, 14 + (k // COLS) * (TILE + 12)
        sheet.paste(tile, (x, y))
        draw.text((x + 1, y + TILE), r["model"]["key"].split(":", 1)[1][:22], fill="black")
    # A 128-colour palette keeps each sheet small enough for the docs.
    sheet.quantize(colors=128).save(dst, optimize=True)
    print(f"{dst}: {n} models")


if __name__ == "__main__":
    main()
