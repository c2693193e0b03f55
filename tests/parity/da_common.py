"""Shared pieces of the DA-method parity scripts (tests/parity/da_*.py).

Each script states one method's losses and one optimizer step in plain PyTorch, as the
released code (huitangtang/On_the_Utility_of_Synthetic_Data, domain_adaptation/) defines them,
and is driven by tests/parity_methods.rs through a folder holding:
  weights.safetensors  every variable of the Rust model, under synthgen's names
  batch.safetensors    xs, ys, xt, target_index (+ src_all, src_all_labels, tgt_all for SRDC)
  ctx.json             epoch, lr, lambda, backbone_lr_mult, momentum, weight_decay, dtype, ...
and writes py_weights.safetensors (same names) and py_losses.json ({term: value}).
`dtype` ("float64" in the test; default "float32") becomes torch's default dtype for the case:
every module and tensor the script makes is float64, like the inputs and weights it reads, so
the comparison is free of float32 rounding (whose order depends on the CPU's instruction set).
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from safetensors.torch import load_file, save_file


def load(folder):
    w = load_file(os.path.join(folder, "weights.safetensors"))
    b = load_file(os.path.join(folder, "batch.safetensors"))
    with open(os.path.join(folder, "ctx.json")) as f:
        ctx = json.load(f)
    torch.set_default_dtype(getattr(torch, ctx.get("dtype", "float32")))
    return w, b, ctx


class Backbone(nn.Module):
    """torchvision ResNet without its fc, flattened features (the released ResBase.features)."""

    def __init__(self, arch):
        super().__init__()
        model = getattr(torchvision.models, arch)()
        self.body = nn.Sequential(*list(model.children())[:-1])
        self.dim = model.fc.in_features
        self.names = {
            "backbone." + k: "body." + str(i) + k[len(n):]
            for i, (n, _) in enumerate(model.named_children())
            for k in model.state_dict()
            if k.startswith(n + ".") and n != "fc" and not k.endswith("num_batches_tracked")
        }

    def forward(self, x):
        return self.body(x).flatten(1)


def assign(module, names, weights):
    """Copies weights[rust] into module's state entry names[rust] for every mapped name."""
    sd = module.state_dict()
    for rust, py in names.items():
        if py in sd and rust in weights:
            sd[py].copy_(weights[rust].to(sd[py].dtype).view_as(sd[py]))


def write(folder, module, names, losses, extra=None):
    sd = module.state_dict()
    kind = torch.get_default_dtype()
    out = {rust: sd[py].detach().to(kind).contiguous() for rust, py in names.items() if py in sd}
    for k, v in (extra or {}).items():
        out[k] = v.contiguous()
    save_file(out, os.path.join(folder, "py_weights.safetensors"))
    with open(os.path.join(folder, "py_losses.json"), "w") as f:
        json.dump({k: float(v) for k, v in losses.items()}, f)


def linear_names(rust_prefix, py_prefix):
    return {rust_prefix + ".weight": py_prefix + ".weight", rust_prefix + ".bias": py_prefix + ".bias"}


def bn_names(rust_prefix, py_prefix):
    return {
        rust_prefix + "." + k: py_prefix + "." + k
        for k in ("weight", "bias", "running_mean", "running_var")
    }


def class_balance(prob):
    """The released class-balance term: -mean(log(mean_i p_i + 1e-6))."""
    return -torch.mean(torch.log(torch.mean(prob, 0) + 1e-6))


def main(run):
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    folder = sys.argv[1]
    run(folder, *load(folder))
