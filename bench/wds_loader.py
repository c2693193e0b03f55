"""One core of a PyTorch DataLoader over synthgen shards with the PyPI `webdataset` package and
torchvision's version of synthgen's `strong` augmentation (RandomResizedCrop(0.08-1, 3/4-4/3),
flip, ColorJitter(0.4, 0.4, 0.2, 0.1) p 0.8, grayscale p 0.2, Gaussian blur sigma 0.1-2.0 p 0.5
(kernel 13, synthgen's radius at sigma 2), ToTensor, Normalize), batches of 32.

usage: wds_loader.py <brace pattern of the shards> <number of images>
"""
import sys
import time

import torch
import webdataset as wds
from torchvision import transforms as T

torch.set_num_threads(1)
pattern, total = sys.argv[1], int(sys.argv[2])
for size in (64, 128, 224):
    tf = T.Compose([
        T.RandomResizedCrop(size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
        T.RandomGrayscale(0.2),
        T.RandomApply([T.GaussianBlur(13, sigma=(0.1, 2.0))], p=0.5),
        T.ToTensor(),
        T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    ds = (
        wds.WebDataset(pattern, shardshuffle=False)
        .shuffle(1000)
        .decode("pil")
        .to_tuple("png", "cls")
        .map_tuple(tf, lambda c: c)
        .batched(32)
    )
    # num_workers=0: decoding and augmenting in this process, on one core.
    loader = wds.WebLoader(ds, batch_size=None, num_workers=0)
    t = time.time()
    n = sum(len(b[1]) for b in loader)
    s = time.time() - t
    assert n == total, (n, total)
    print(f"pytorch+webdataset {size}px, 1 core: {n / s:.1f} img/s ({n} images)")
