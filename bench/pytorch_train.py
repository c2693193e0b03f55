"""PyTorch eager side of bench/train_vs_pytorch.sh: the step `synthgen train` runs (torchvision
ResNet, train mode, mean cross-entropy, global gradient-norm clipping to 1.0, SGD momentum 0.9,
weight decay 1e-4), fed from the same ImageFolder without augmentation (resize the shorter
side to round(S * 256 / 224), centre crop S) by a DataLoader with one worker process.

Prints `images_per_second N` over all ITERS steps, timed like synthgen's summary: from asking
for the first batch to the end of the last step.

On DEVICE cuda the step runs under bf16 autocast with cudnn.benchmark on, as `synthgen train`
does on a GPU, and the timer stops after the GPU has finished the last step.

usage: pytorch_train.py DATA ARCH SIZE BATCH ITERS THREADS [DEVICE [LOADER_WORKERS]]
       (DEVICE cpu|cuda, default cpu; LOADER_WORKERS default 1)
"""
import sys
import time

import torch
import torchvision
from torchvision import transforms


def main():
    data, arch = sys.argv[1], sys.argv[2]
    size, batch, iters, threads = (int(a) for a in sys.argv[3:7])
    device = sys.argv[7] if len(sys.argv) > 7 else "cpu"
    workers = int(sys.argv[8]) if len(sys.argv) > 8 else 1
    cuda = device == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    tf = transforms.Compose([
        transforms.Resize(round(size * 256 / 224)),
        transforms.CenterCrop(size),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    dataset = torchvision.datasets.ImageFolder(data, transform=tf)
    sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=batch * iters)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers,
                                         drop_last=True, prefetch_factor=4, pin_memory=cuda)
    model = getattr(torchvision.models, arch)(weights=None, num_classes=len(dataset.classes))
    model = model.to(device)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    t0 = time.perf_counter()
    images = 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        opt.zero_grad()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=cuda):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        images += len(y)
    if cuda:
        torch.cuda.synchronize()
    print(f"images_per_second {images / (time.perf_counter() - t0):.2f}")


if __name__ == "__main__":
    main()
