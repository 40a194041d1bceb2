#!/usr/bin/env python3
"""The cnn's default recipe in PyTorch, timed step by step like BenchmarkCNNStep.

The network is `mnist train --model cnn`'s (nn.CNN):

    Conv2d(1, 32, 5), ReLU, MaxPool2d(2), Conv2d(32, 64, 5), ReLU, MaxPool2d(2),
    Flatten, Linear(1024, 128), ReLU, Linear(128, 10)

trained with CrossEntropyLoss and Adam (lr 0.001), batch 64, the training set
resident as float32 normalised with MNIST's mean and std (0.1307, 0.3081),
visited through a fresh permutation each epoch. After --warmup untimed steps
it times --steps steps --runs times and prints one JSON object: per run the
wall time and the process CPU time (user + system, all threads) per step,
and the epoch (938 steps) each implies. On a busy machine the CPU time per
step is the figure that survives; with OMP_NUM_THREADS=1 it compares with
`go test ./cpu -bench BenchmarkCNNStep -cpu 1`'s cpu-ms/step.

    OMP_NUM_THREADS=2 python3 bench/pytorch/cnn_step.py --data-dir data
"""

import argparse
import json
import os
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tutorial import load  # noqa: E402  (same IDX reader)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=os.environ.get("MNIST_DATA", "data"))
    p.add_argument("--steps", type=int, default=40, help="steps per timed run")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    x, y = load(a.data_dir, "train")
    x = ((x - 0.1307) / 0.3081).unsqueeze(1).contiguous()  # N, 1, 28, 28
    model = nn.Sequential(
        nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1024, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    loss_fn = nn.CrossEntropyLoss()
    perm = torch.randperm(len(x))
    pos = 0

    def step():
        nonlocal perm, pos
        if pos + 64 > len(x):
            perm, pos = torch.randperm(len(x)), 0
        idx = perm[pos : pos + 64]
        pos += 64
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    runs = []
    for _ in range(a.runs):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(a.steps):
            step()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        runs.append({
            "wall_ms_per_step": 1e3 * wall / a.steps,
            "cpu_ms_per_step": 1e3 * cpu / a.steps,
            "epoch_s_wall": 938 * wall / a.steps,
            "epoch_s_cpu": 938 * cpu / a.steps,
        })
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "steps": a.steps,
        "runs": runs,
        "min_wall_ms_per_step": min(r["wall_ms_per_step"] for r in runs),
        "min_cpu_ms_per_step": min(r["cpu_ms_per_step"] for r in runs),
        "load_average": os.getloadavg(),
    }, indent=1))


if __name__ == "__main__":
    main()
