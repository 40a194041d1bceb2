#!/usr/bin/env python3
"""PyTorch side of TestCNNLoadsIntoPyTorch (see nn/cnn_torch_test.go).

    torch_cnn.py MODEL IMAGES N ROWS COLS MEAN STD

loads the safetensors file MODEL into the module below with
load_state_dict(strict=True), normalises N images of ROWS×COLS uint8 pixels
read from the raw file IMAGES as (p/255 - MEAN)/STD, and prints one JSON
object: {"logits": [[...], ...], "keys": [...]}.

The file is read with safetensors.torch when installed, else with the
spec reader of nn/safetensors/testdata/torch_load.py (Debian does not
package safetensors).
"""
import importlib.util
import json
import os
import sys

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "torch_load", os.path.join(HERE, "..", "safetensors", "testdata", "torch_load.py"))
torch_load = importlib.util.module_from_spec(spec)
spec.loader.exec_module(torch_load)


class CNN(nn.Module):
    """The cnn as the issue writes it, wrapped like the tutorial's module
    (its Sequential is the attribute `model`, so keys are model.0.weight …)."""

    def __init__(self, flat, classes):
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, classes))

    def forward(self, x):
        return self.model(x)


def main():
    if len(sys.argv) != 8:
        raise SystemExit(__doc__)
    path, images = sys.argv[1], sys.argv[2]
    n, rows, cols = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    mean, std = float(sys.argv[6]), float(sys.argv[7])
    tensors, _ = torch_load.read(path)
    side = lambda s: ((s - 4) // 2 - 4) // 2
    model = CNN(64 * side(rows) * side(cols), tensors["model.9.weight"].shape[0])
    model.load_state_dict(tensors, strict=True)
    with open(images, "rb") as f:
        raw = bytearray(f.read())
    x = torch.frombuffer(raw, dtype=torch.uint8).to(torch.float32).reshape(n, 1, rows, cols)
    x = (x / 255 - mean) / std
    model.eval()
    with torch.no_grad():
        logits = model(x)
    json.dump({"logits": logits.tolist(), "keys": list(model.state_dict().keys())}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
