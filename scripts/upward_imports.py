#!/usr/bin/env python3
"""Counts imports that run upward in the house (issue 19), ground floor first:
scene vocabulary, preset, assets, dataset, sample, composite, render, nn parts, engine,
train/adapt/fit, study, cli. `paths`, `progress`, `validate` and `fsio` are ground-floor utilities.
Every `crate::<top>` reference in a non-test line of src/<folder>/ counts once per (file, top).
Usage: scripts/upward_imports.py [REPO]   (prints each upward edge, then the totals)
"""
import os
import re
import sys
from collections import Counter

ORDER = [
    ["scene", "paths", "progress", "validate", "fsio"],
    ["preset"],
    ["assets"],
    ["dataset"],
    ["sample"],
    ["composite"],
    ["render"],
    ["nn"],
    ["engine"],
    ["train", "adapt", "fit"],
    ["study"],
    ["cli"],
]
LEVEL = {name: i for i, names in enumerate(ORDER) for name in names}

repo = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
src = os.path.join(repo, "src")
edges = Counter()
files = []
for root, _, names in os.walk(src):
    for n in names:
        if n.endswith(".rs"):
            files.append(os.path.join(root, n))
for path in sorted(files):
    rel = os.path.relpath(path, src)
    top = rel.split(os.sep)[0].removesuffix(".rs")
    if top not in LEVEL:
        continue
    text = open(path).read()
    # Drop `#[cfg(test)] mod ... { ... }` blocks at the end of a file (the project's habit).
    cut = re.search(r"#\[cfg\(test\)\]\s*mod \w+\s*\{", text)
    if cut:
        text = text[: cut.start()]
    text = re.sub(r"//.*", "", text)
    seen = set(re.findall(r"crate::(\w+)", text))
    for target in sorted(seen):
        if target in LEVEL and LEVEL[target] > LEVEL[top]:
            edges[(top, target)] += 1
            print(f"{rel} -> {target}")
print("--- upward (folder -> folder: files)")
for (a, b), n in sorted(edges.items()):
    print(f"{a} -> {b}: {n}")
print(f"total upward file imports: {sum(edges.values())}; folder pairs: {len(edges)}")
