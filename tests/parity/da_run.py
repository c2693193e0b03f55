"""Runs several parity cases in one Python process (one torch import): arguments are pairs
`<script module> <case folder>`, e.g. `da_dann /tmp/x`."""
import importlib
import sys

import torch

import da_common as c

if __name__ == "__main__":
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    args = sys.argv[1:]
    for module, folder in zip(args[::2], args[1::2]):
        importlib.import_module(module).run(folder, *c.load(folder))
