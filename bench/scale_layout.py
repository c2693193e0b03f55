"""Writes a synthetic WebDataset layout as `render --shard I/N` tasks would leave it: N task
folders, each with shards of tiny samples (`<key>.png` an 8 x 8 PNG, `.cls`, `.json` record),
its wids index, manifest (one templated record per sample, in (label, index) order),
classes.txt, preset.yaml and shard.json. For bench/scale.sh (merge, validate, loader epoch).

usage: scale_layout.py <out> <samples> <tasks> <samples per shard> <template manifest line> <template preset.yaml>
"""
import hashlib
import io
import json
import os
import sys
import tarfile

import yaml
from PIL import Image

out, total, tasks, per_shard = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
template = json.loads(open(sys.argv[5]).readline())
preset = yaml.safe_load(open(sys.argv[6]))
C = 10
classes = [f"class{c:02d}" for c in range(C)]
per_class = total // C
preset.update(images_per_class=per_class, classes=classes, name="scale")
preset.setdefault("output", {}).update(format="webdataset", shard_samples=per_shard)
preset.pop("class_factors", None)
preset_text = yaml.safe_dump(preset, sort_keys=False)

buf = io.BytesIO()
Image.new("RGB", (8, 8), (90, 120, 200)).save(buf, format="PNG")
png = buf.getvalue()
sha = hashlib.sha256(png).hexdigest()


def member(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


for t in range(tasks):
    d = os.path.join(out, f"task{t + 1}")
    os.makedirs(d, exist_ok=True)
    owned = [(label, index) for index in range(per_class) for label in range(C) if (index + label) % tasks == t]
    entries, where = [], {}
    for k in range(0, len(owned), per_shard):
        name = f"scale-{t + (k // per_shard) * tasks:06d}.tar"
        path = os.path.join(d, name)
        with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
            for label, index in owned[k:k + per_shard]:
                key = f"{classes[label]}_{index:06d}"
                where[(label, index)] = name
                rec = {"id": key, "label": label, "index": index, "sha256": sha}
                member(tar, key + ".png", png)
                member(tar, key + ".cls", str(label).encode())
                member(tar, key + ".json", json.dumps(rec).encode())
        entries.append({"url": name, "nsamples": len(owned[k:k + per_shard]), "filesize": os.path.getsize(path)})
    with open(os.path.join(d, "wids-index.json"), "w") as f:
        json.dump({"__kind__": "wids-shard-index-v1", "wids_version": 1, "name": "scale", "shardlist": entries}, f)
    with open(os.path.join(d, "manifest.jsonl"), "w") as f:
        for label, index in sorted(owned):
            key = f"{classes[label]}_{index:06d}"
            rec = dict(template, id=key, label=label, index=index, **{"class": classes[label]}, sha256=sha,
                       path=f"{where[(label, index)]}#{key}.png", mask=None)
            f.write(json.dumps(rec) + "\n")
    open(os.path.join(d, "classes.txt"), "w").write("\n".join(classes) + "\n")
    open(os.path.join(d, "preset.yaml"), "w").write(preset_text)
    json.dump({"index": t + 1, "count": tasks}, open(os.path.join(d, "shard.json"), "w"))
print(f"{total} samples in {tasks} tasks under {out}")
