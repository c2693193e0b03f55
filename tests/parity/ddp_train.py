"""PyTorch's own data-parallel training, as `synthgen train` under torchrun defines it, for
tests/ddp.rs and bench/ddp_vs_pytorch.sh. Run by torchrun (one process per rank):

    torchrun --nproc-per-node 2 ddp_train.py ARCH SIZE LR STEPS DIR [BATCH]

Each rank reads DIR/data (an ImageFolder written by torchvision_train_step.py `prepare`) in
synthgen's order (classes, then files, sorted) and keeps every WORLD-th image from its rank on
(synthgen's RankSlice), `len // WORLD` of them. Without BATCH every step's batch is the rank's
whole slice (so the order synthgen's loader shuffles it in does not matter); with BATCH the
slice is cycled in order (benchmark only: the images are decoded once, before the timer).
The model is torchvision's ARCH with DIR/init.safetensors, wrapped in
DistributedDataParallel (Gloo, broadcast_buffers=True); every step: train-mode forward, mean
cross-entropy, backward (DDP's all-reduce), clip_grad_norm_(1.0), SGD momentum 0.9, weight
decay 1e-4 at synthgen's cosine lr 0.5 LR (1 + cos(pi t / STEPS)). Rank 0 writes
DIR/ddp.safetensors (weights and running statistics) and prints images/s of all ranks over
every step, the first included (as synthgen's summary counts them).
"""
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torchvision
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).parent))
from torchvision_train_step import load_batch  # noqa: E402


def main():
    arch, size, lr, steps, root = (
        sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5]))
    batch = int(sys.argv[6]) if len(sys.argv) > 6 else None
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    x, y, classes = load_batch(root, size)
    each = len(x) // world
    x, y = x[rank::world][:each], y[rank::world][:each]
    model = getattr(torchvision.models, arch)(weights=None, num_classes=classes)
    init = load_file(str(root / "init.safetensors"))
    init["fc.weight"] = init.pop("head.weight")
    init["fc.bias"] = init.pop("head.bias")
    model.load_state_dict(init, strict=False)
    model.train()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    start = time.perf_counter()
    for t in range(steps):
        if batch is None:
            xb, yb = x, y
        else:
            idx = [(t * batch + i) % len(x) for i in range(batch)]
            xb, yb = x[idx], y[idx]
        for g in opt.param_groups:
            g["lr"] = 0.5 * lr * (1 + math.cos(math.pi * t / steps))
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(ddp(xb), yb)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ddp.parameters(), 1.0)
        opt.step()
    seconds = time.perf_counter() - start
    if rank == 0:
        out = {}
        for k, v in model.state_dict().items():
            if not k.endswith("num_batches_tracked"):
                name = "head." + k[3:] if k.startswith("fc.") else "backbone." + k
                out[name] = v.contiguous()
        save_file(out, str(root / "ddp.safetensors"))
        per_step = len(xb) * world
        print(f"pytorch_ddp images/s {per_step * steps / seconds:.2f}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
