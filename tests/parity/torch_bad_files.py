"""Files that `--init` must refuse with one clear line (tests/parity_models.rs):
`list.pth` (torch.save of a list, no state dict) and `wrapped.pth` (a training checkpoint
whose state dict holds one tensor, not a whole backbone).

usage: torch_bad_files.py OUT_DIR
"""
import sys
from pathlib import Path

import torch


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    torch.save([1, 2, 3], out / "list.pth")
    state = {"conv1.weight": torch.zeros(64, 3, 7, 7)}
    torch.save({"epoch": 3, "state_dict": state}, out / "wrapped.pth")


if __name__ == "__main__":
    main()
