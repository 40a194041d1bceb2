#!/usr/bin/env python3
"""The PyTorch tutorial's MNIST network, timed the way `mnist bench` times ours.

The network is the tutorial's, with its bug removed (no Softmax before
CrossEntropyLoss, which applies log-softmax itself):

    nn.Sequential(Flatten, Linear(784, 64), ReLU, Linear(64, 32), ReLU, Linear(32, 10))

trained with CrossEntropyLoss and plain SGD (lr 0.005), batch 64, pixels fed as
p/255, from the same IDX files `mnist data` fetches (read here with gzip and
numpy: torchvision is not needed). Two ways of feeding it are timed:

  dataloader  the tutorial's: a TensorDataset on the host and
              DataLoader(batch_size=64, shuffle=True), each batch copied to the
              device, as `X.to(device)` in the tutorial's loop;
  resident    the whole training set on the device as float32, visited through
              a fresh permutation each epoch (the fastest plain PyTorch).

Like `mnist bench`, each mode gets --warmup untimed epochs, then --runs runs of
--epochs epochs, each from the same initial weights; the device is
synchronised before each clock reading; the test accuracy is measured after
the last run. It prints one JSON object with the fields of `mnist bench --json`
(speedup_vs_gorgonia is null unless --baseline names a `mnist bench --json`
output with a gorgonia row).

    OMP_NUM_THREADS=2 python3 bench/pytorch/tutorial.py --data-dir data
"""

import argparse
import datetime
import gzip
import json
import os
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def read_idx(path):
    """Reads an IDX file (gzip-compressed or not) into a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise SystemExit(f"{path}: not an IDX file of uint8 (magic {data[:4].hex()})")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise SystemExit(f"{path}: header promises {dims} but {body.size} bytes follow")
    return body.reshape(dims)


def find(data_dir, name):
    for candidate in (os.path.join(data_dir, name), os.path.join(data_dir, name[: -len(".gz")])):
        if os.path.exists(candidate):
            return candidate
    raise SystemExit(f"{os.path.join(data_dir, name)}: missing: run `mnist data --data-dir {data_dir}` to fetch MNIST")


def load(data_dir, prefix):
    images = read_idx(find(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(find(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    if len(images) != len(labels):
        raise SystemExit(f"{data_dir}: {len(images)} {prefix} images but {len(labels)} labels")
    x = torch.from_numpy(images.astype(np.float32) / 255.0)  # (N, rows, cols), as ToTensor scales
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def network(inputs, hidden, classes):
    layers, width = [nn.Flatten()], inputs
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, classes))
    return nn.Sequential(*layers)


def flops_per_sample(inputs, hidden, classes):
    """Training FLOPs per sample, as nn.Spec.FLOPsPerSample counts them."""
    widths = [inputs] + hidden + [classes]
    macs = 0
    for i in range(len(widths) - 1):
        m = widths[i] * widths[i + 1]
        macs += 2 * m if i == 0 else 3 * m  # forward + weight gradient (+ input gradient above the first layer)
    return 2 * macs


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Trainer:
    """One feeding mode: trains an epoch, restores the initial weights, evaluates."""

    def __init__(self, mode, model, init_state, train, test, args, device):
        self.mode, self.model, self.init_state = mode, model, init_state
        self.device, self.batch = device, args.batch
        self.loss_fn = nn.CrossEntropyLoss()
        self.opt = torch.optim.SGD(model.parameters(), lr=args.lr)
        x, y = train
        self.n = len(y)
        if mode == "dataloader":
            self.loader = DataLoader(TensorDataset(x, y), batch_size=args.batch, shuffle=True)
        else:
            self.x, self.y = x.to(device), y.to(device)
        self.test_x, self.test_y = test[0].to(device), test[1].to(device)
        self.losses = []

    def reset(self):
        self.model.load_state_dict(self.init_state)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=self.opt.param_groups[0]["lr"])

    def step(self, xb, yb):
        loss = self.loss_fn(self.model(xb), yb)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.losses.append((loss.detach(), len(yb)))

    def epoch(self):
        self.model.train()
        self.losses = []
        if self.mode == "dataloader":
            for xb, yb in self.loader:
                self.step(xb.to(self.device), yb.to(self.device))
        else:
            perm = torch.randperm(self.n, device=self.device)
            for first in range(0, self.n, self.batch):
                idx = perm[first : first + self.batch]
                self.step(self.x[idx], self.y[idx])
        sync(self.device)

    def train_loss(self):
        values = torch.stack([l for l, _ in self.losses]).double().cpu()
        rows = torch.tensor([r for _, r in self.losses], dtype=torch.float64)
        return float((values * rows).sum() / rows.sum())

    @torch.no_grad()
    def test_accuracy(self):
        self.model.eval()
        correct = 0
        for first in range(0, len(self.test_y), 1000):
            logits = self.model(self.test_x[first : first + 1000])
            correct += int((logits.argmax(1) == self.test_y[first : first + 1000]).sum())
        return correct / len(self.test_y)


def describe_device(device):
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)} (PyTorch {torch.__version__}, CUDA {torch.version.cuda})"
    threads = torch.get_num_threads()
    return f"cpu (PyTorch {torch.__version__}, {threads} thread{'' if threads == 1 else 's'})"


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    m = {"cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
         "torch_threads": torch.get_num_threads(), "os": f"{platform.system().lower()}/{platform.machine()}"}
    if torch.cuda.is_available():
        m["gpu"] = torch.cuda.get_device_name(0)
        m["cuda_runtime"] = torch.version.cuda
        if shutil.which("nvidia-smi"):
            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True)
            if out.returncode == 0:
                m["driver"] = out.stdout.strip().splitlines()[0]
    return m


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=os.environ.get("MNIST_DATA", "data"), help="directory holding the four IDX files")
    p.add_argument("--modes", default="dataloader,resident", help="comma-separated: dataloader, resident")
    p.add_argument("--device", default="auto", help="auto (cuda when available, else cpu), cpu or cuda")
    p.add_argument("--hidden", default="64,32", help="hidden layer widths")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--epochs", type=int, default=1, help="epochs per timed run")
    p.add_argument("--runs", type=int, default=3, help="timed runs per mode")
    p.add_argument("--warmup", type=int, default=1, help="untimed epochs per mode before the runs")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--baseline", help="`mnist bench --json` output: speedup_vs_gorgonia is computed against its gorgonia row")
    args = p.parse_args()

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in ("dataloader", "resident"):
            p.error(f"--modes: unknown mode {m!r}: choose dataloader or resident")
    if args.runs < 1 or args.epochs < 1 or args.warmup < 0 or args.batch < 1 or not args.lr > 0:
        p.error("need --runs ≥ 1, --epochs ≥ 1, --warmup ≥ 0, --batch ≥ 1 and --lr > 0")
    hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device is available to PyTorch")

    gorgonia_ms = None
    if args.baseline:
        with open(args.baseline) as f:
            for row in json.load(f).get("results", []):
                if row.get("backend") == "gorgonia":
                    gorgonia_ms = row["ms_per_epoch"]["median"]

    train, test = load(args.data_dir, "train"), load(args.data_dir, "t10k")
    rows, cols = train[0].shape[1:]
    inputs, classes = rows * cols, 10
    torch.manual_seed(args.seed)
    model = network(inputs, hidden, classes).to(device)
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    n = len(train[1])
    fps = flops_per_sample(inputs, hidden, classes)

    results = []
    for mode in modes:
        t = Trainer(mode, model, init_state, train, test, args, device)
        print(f"tutorial.py: {mode} on {describe_device(device)}: {args.warmup} warm-up epoch(s), "
              f"{args.runs} run(s) of {args.epochs} epoch(s)…", file=sys.stderr)
        t.reset()
        for _ in range(args.warmup):
            t.epoch()
        runs = []
        for _ in range(args.runs):
            t.reset()
            sync(device)
            start = time.perf_counter()
            for _ in range(args.epochs):
                t.epoch()  # ends synchronised
            runs.append((time.perf_counter() - start) * 1000 / args.epochs)
        median = statistics.median(runs)
        sps = n / (median / 1000)
        results.append({
            "backend": f"pytorch-{mode}",
            "device": describe_device(device),
            "ms_per_epoch": {"median": median, "min": min(runs), "max": max(runs)},
            "samples_per_second": sps,
            "gflops": sps * fps / 1e9,
            "speedup_vs_gorgonia": gorgonia_ms / median if gorgonia_ms else None,
            "test_accuracy": t.test_accuracy(),
            "train_loss": t.train_loss(),
            "runs_ms_per_epoch": runs,
        })
        print(f"tutorial.py: {mode}: {median:.1f} ms per epoch (median; min {min(runs):.1f}, max {max(runs):.1f}), "
              f"test accuracy {100 * results[-1]['test_accuracy']:.2f}%", file=sys.stderr)

    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "data": args.data_dir,
        "train_samples": n,
        "test_samples": len(test[1]),
        "model": "mlp" + "".join(f"-{h}" for h in hidden),
        "params": sum(p.numel() for p in model.parameters()),
        "flops_per_sample": fps,
        "batch": args.batch,
        "lr": args.lr,
        "epochs": args.epochs,
        "runs": args.runs,
        "warmup_epochs": args.warmup,
        "results": results,
        "skipped": [],
    }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
