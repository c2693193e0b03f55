"""Reference logits of a torchvision ResNet for tests/parity_models.rs.

Builds torchvision's resnet18/resnet50 with seeded random weights (batch-norm statistics and
affine parameters perturbed so that they matter), saves them as torch.save state dict (.pth)
and as safetensors, and writes a fixed batch with torchvision's logits in eval mode and in
train mode (batch statistics) plus the running statistics after that train-mode pass.

usage: torchvision_models.py ARCH SIZE BATCH SEED OUT_DIR [float64]

With `float64` the weight files stay float32 (as users have them) but the batch, the logits and
the statistics are computed in float64, so that the comparison does not depend on the order in
which the CPU's kernels round float32 sums (which differs between instruction sets).
"""
import sys
from pathlib import Path

import torch
import torchvision
from safetensors.torch import save_file


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
    arch, size, batch, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = getattr(torchvision.models, arch)(weights=None, num_classes=10)
    perturb_batch_norm(model, gen)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    torch.save(state, out / "weights.pth")
    save_file(state, str(out / "weights.safetensors"))

    x = torch.randn(batch, 3, size, size, generator=gen)
    if sys.argv[6:] == ["float64"]:
        model.double()
        x = x.double()
    model.eval()
    with torch.no_grad():
        eval_logits = model(x)
    model.train()
    with torch.no_grad():
        train_logits = model(x)
    ref = {
        "x": x,
        "head.weight": model.fc.weight.detach(),
        "head.bias": model.fc.bias.detach(),
        "logits_eval": eval_logits,
        "logits_train": train_logits,
    }
    for k, v in model.state_dict().items():
        if k.endswith("running_mean") or k.endswith("running_var"):
            ref["after." + k] = v
    save_file({k: v.contiguous() for k, v in ref.items()}, str(out / "reference.safetensors"))


if __name__ == "__main__":
    main()
