"""One supervised step in plain PyTorch, as synthgen's `train` defines it, for
tests/parity_models.rs.

`prepare ARCH SIZE CLASSES PER_CLASS SEED DIR` writes an ImageFolder of random R x R PNGs
(R = round(SIZE * 256 / 224), so synthgen's resize is the identity and its centre crop is
torchvision's) and the initial weights `init.safetensors`: torchvision's backbone names plus
synthgen's `head.weight` / `head.bias` (torchvision's `fc` keys are dropped on import).

`step ARCH SIZE LR DIR` runs one step on the whole folder as one batch: train-mode forward,
mean cross-entropy, backward, global gradient-norm clipping to 1.0, SGD momentum 0.9, weight
decay 1e-4 at LR, and writes `expected.safetensors` (loss, weights and running statistics).
"""
import sys
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from safetensors.torch import load_file, save_file

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def resize_side(size):
    return round(size * 256 / 224)


def prepare(arch, size, classes, per_class, seed, root):
    rng = np.random.default_rng(seed)
    side = resize_side(size)
    for c in range(classes):
        folder = root / "data" / f"class{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    torch.manual_seed(seed)
    model = getattr(torchvision.models, arch)(weights=None, num_classes=classes)
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(0.5 + torch.rand(m.num_features, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=gen))
    state = {k: v.contiguous() for k, v in model.state_dict().items()
             if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}
    state["head.weight"] = model.fc.weight.detach().contiguous()
    state["head.bias"] = model.fc.bias.detach().contiguous()
    save_file(state, str(root / "init.safetensors"))


def load_batch(root, size):
    side = resize_side(size)
    off = round((side - size) / 2)
    xs, ys = [], []
    classes = sorted(p.name for p in (root / "data").iterdir())
    for label, name in enumerate(classes):
        for png in sorted((root / "data" / name).iterdir()):
            img = np.asarray(Image.open(png).convert("RGB"), dtype=np.float32) / 255.0
            img = torch.from_numpy(img[off:off + size, off:off + size]).permute(2, 0, 1)
            xs.append((img - MEAN) / STD)
            ys.append(label)
    return torch.stack(xs), torch.tensor(ys), len(classes)


def step(arch, size, lr, root):
    x, y, classes = load_batch(root, size)
    model = getattr(torchvision.models, arch)(weights=None, num_classes=classes)
    init = load_file(str(root / "init.safetensors"))
    init["fc.weight"] = init.pop("head.weight")
    init["fc.bias"] = init.pop("head.bias")
    model.load_state_dict(init, strict=False)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    out = {"loss": loss.detach().reshape(1)}
    for k, v in model.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            name = "head." + k[3:] if k.startswith("fc.") else "backbone." + k
            out[name] = v.contiguous()
    save_file(out, str(root / "expected.safetensors"))


def main():
    cmd, arch, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if cmd == "prepare":
        prepare(arch, size, int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), Path(sys.argv[7]))
    elif cmd == "step":
        step(arch, size, float(sys.argv[4]), Path(sys.argv[5]))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
