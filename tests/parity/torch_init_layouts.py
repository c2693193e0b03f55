"""The weight files people have, written as they write them, for tests/torch_init_files.rs.

- zip.pth: torch.save(torchvision.models.resnet18(num_classes=5).state_dict(), path), an
  OrderedDict in the zip format (PyTorch >= 1.6).
- legacy.pth: the same state dict with _use_new_zipfile_serialization=False.
- wrapped.pth: a training checkpoint {'epoch', 'state_dict' (DataParallel: `module.` keys),
  'optimizer', 'args' (an argparse.Namespace), 'best_acc1' (a numpy scalar)}; its state dict
  also holds a transposed view and a slice of a shared storage (strides and offsets).
- half.pth: {'model': model.half().state_dict()}.
- released.pth: the paper's released DA code's layout (ResBase: torchvision's ResNet children
  in `features`, plus `fc` and `domain_fc`, in DataParallel), saved as its main.py saves
  checkpoints ({'epoch', 'arch', 'model_state_dict', ...}).
- unmappable.pth: the resnet18 state dict under names nothing maps (`encoder.` prefix).
- list.pth: torch.save of a list (no state dict).
- reference.safetensors: every state-dict tensor of each file as torch.load gives it back,
  under `<file stem>.<torchvision name>` (the names synthgen must map them to: `module.`
  stripped, the released code's `features.<i>` named after torchvision's i-th ResNet child).

usage: torch_init_layouts.py OUT_DIR
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torchvision
from safetensors.torch import save_file


class ResBase(torch.nn.Module):
    """The released code's model layout (domain_adaptation/DANN/models/resnet.py), rebuilt."""

    def __init__(self, num_classes):
        super().__init__()
        net = torchvision.models.resnet18(weights=None)
        self.fc = torch.nn.Linear(512, num_classes)
        self.features = torch.nn.Sequential(*list(net.children())[:-1])
        self.domain_fc = torch.nn.Linear(512, 2)


def perturb_batch_norm(model, gen):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                m.bias.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    ref = {}

    model = torchvision.models.resnet18(weights=None, num_classes=5)
    perturb_batch_norm(model, gen)
    torch.save(model.state_dict(), out / "zip.pth")
    torch.save(model.state_dict(), out / "legacy.pth", _use_new_zipfile_serialization=False)
    for stem in ["zip", "legacy"]:
        for k, v in torch.load(out / f"{stem}.pth").items():
            ref[f"{stem}.{k}"] = v.contiguous()

    state = torch.nn.DataParallel(model).state_dict()
    shared = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    state["module.proj.weight"] = shared.t()  # a transposed view
    state["module.proj.bias"] = shared[2, 1:5]  # a slice at an offset
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 32, 32, generator=gen)).sum().backward()
    optimizer.step()  # momentum buffers: tensors outside the state dict
    torch.save(
        {
            "epoch": 3,
            "arch": "resnet18",
            "state_dict": state,
            "optimizer": optimizer.state_dict(),
            "args": argparse.Namespace(lr=0.1, arch="resnet18"),
            "best_acc1": np.float64(41.5),
        },
        out / "wrapped.pth",
    )
    for k, v in torch.load(out / "wrapped.pth", weights_only=False)["state_dict"].items():
        ref["wrapped." + k.removeprefix("module.")] = v.contiguous()

    torch.save({"model": model.half().state_dict()}, out / "half.pth")
    for k, v in torch.load(out / "half.pth")["model"].items():
        ref["half." + k] = v.contiguous()
    model.float()

    released = torch.nn.DataParallel(ResBase(num_classes=5))
    perturb_batch_norm(released, gen)
    torch.save(
        {
            "epoch": 1,
            "arch": "resnet18",
            "model_state_dict": released.state_dict(),
            "best_accs": {"prec1": 12.5},
        },
        out / "released.pth",
    )
    child = [name for name, _ in torchvision.models.resnet18().named_children()]
    for k, v in torch.load(out / "released.pth")["model_state_dict"].items():
        k = k.removeprefix("module.")
        if k.startswith("features."):
            _, i, rest = k.split(".", 2)
            k = f"{child[int(i)]}.{rest}"
        ref["released." + k] = v.contiguous()

    torch.save({"encoder." + k: v for k, v in model.state_dict().items()}, out / "unmappable.pth")
    torch.save([1, 2, 3], out / "list.pth")
    save_file(ref, str(out / "reference.safetensors"))


if __name__ == "__main__":
    main()
