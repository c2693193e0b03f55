"""Reads synthgen's WebDataset shards with the PyPI clients and compares them with an
ImageFolder render of the same preset and seed.

usage: wds_read.py <wids index.json> <brace pattern of the shards> <ImageFolder render dir>

- `webdataset.WebDataset(pattern)` raw: sha256 of every `.png` member and the `.cls` label
  equal the ImageFolder file's sha256 and label (from its manifest), every image exactly once;
- the same pipeline with `.decode("pil")`: the decoded pixels equal the ImageFolder PNG's;
- `wids.ShardListDataset(index)`: its length is the image count and every index decodes to
  the same pixels and label.
"""
import hashlib
import json
import os
import sys

import numpy as np
import webdataset as wds
import wids
from PIL import Image

index, pattern, ref = sys.argv[1:4]

expected = {}
with open(os.path.join(ref, "manifest.jsonl")) as f:
    for line in f:
        r = json.loads(line)
        expected[r["id"]] = (r["sha256"], r["label"], os.path.join(ref, r["path"]))
assert expected, "the ImageFolder render is empty"


def ref_pixels(key):
    with Image.open(expected[key][2]) as im:
        return np.asarray(im.convert("RGB"))


seen = set()
for sample in wds.WebDataset(pattern, shardshuffle=False):
    key = sample["__key__"]
    assert key in expected, f"{key}: not in the ImageFolder render"
    assert key not in seen, f"{key}: seen twice"
    seen.add(key)
    sha, label, _ = expected[key]
    assert hashlib.sha256(sample["png"]).hexdigest() == sha, f"{key}: PNG bytes differ"
    assert int(sample["cls"]) == label, f"{key}: label {sample['cls']!r} != {label}"
    assert json.loads(sample["json"])["sha256"] == sha
assert seen == set(expected), f"missing from the shards: {sorted(set(expected) - seen)}"

decoded = 0
pipeline = wds.WebDataset(pattern, shardshuffle=False).decode("pil").to_tuple("__key__", "png", "cls")
for key, img, cls in pipeline:
    assert np.array_equal(np.asarray(img.convert("RGB")), ref_pixels(key)), f"{key}: pixels differ"
    assert cls == expected[key][1]
    decoded += 1
assert decoded == len(expected)

ds = wids.ShardListDataset(index)
assert len(ds) == len(expected), f"wids length {len(ds)} != {len(expected)}"
keys = set()
for i in range(len(ds)):
    s = ds[i]
    key = s["__key__"]
    keys.add(key)
    assert s[".cls"] == expected[key][1], f"{key}: wids label"
    assert np.array_equal(np.asarray(s[".png"].convert("RGB")), ref_pixels(key)), f"{key}: wids pixels"
assert keys == set(expected)
print(f"ok: {len(expected)} images read by webdataset (raw + decoded) and wids")
