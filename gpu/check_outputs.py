#!/usr/bin/env python3
"""Checks our output files with their formats' own libraries, for gpu-check.sh.

  --runs A B     two TensorBoard run directories of the same recipe (the cuda
                 and the cpu backend): read with TensorBoard's own event reader
                 (EventAccumulator), their train/loss curves compared step by
                 step (the first steps must agree closely: same weights, same
                 batches) and epoch by epoch (within a few percent)
  --model FILE   a model saved by `mnist train`: loaded with
                 safetensors.torch.load_file, rebuilt as a torch MLP and
                 evaluated on the test set; the accuracy must be the one the
                 file's metadata records
  --data-dir D   the IDX files, for the evaluation

Prints one line per check, "check NAME: pass|fail|skip: detail", and last a
JSON object {"checks": [...]} that gpu-check.sh folds into its report. Exits 1
when a check fails; a missing package is a skip, not a failure.
"""

import argparse
import gzip
import json
import os
import struct
import sys

checks = []


def record(name, status, detail, **figures):
    checks.append({"name": name, "status": status, "detail": detail, **figures})
    print(f"check {name}: {status}: {detail}", flush=True)


def scalars(run, tag):
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(run, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    tags = acc.Tags().get("scalars", [])
    if tag not in tags:
        raise ValueError(f"{run}: no scalar {tag!r} (has {sorted(tags)})")
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def check_runs(a, b):
    try:
        import tensorboard  # noqa: F401
    except ImportError as e:
        record("tensorboard-curves", "skip", f"no tensorboard package: {e}")
        return
    try:
        la, lb = scalars(a, "train/loss"), scalars(b, "train/loss")
        ea, eb = scalars(a, "train/epoch_loss"), scalars(b, "train/epoch_loss")
        aa, ab = scalars(a, "test/accuracy"), scalars(b, "test/accuracy")
    except Exception as e:  # a file TensorBoard cannot read is a failure
        record("tensorboard-curves", "fail", f"TensorBoard's reader: {e}")
        return
    if len(la) != len(lb) or [s for s, _ in la] != [s for s, _ in lb]:
        record("tensorboard-curves", "fail", f"step counts differ: {len(la)} and {len(lb)}")
        return
    first = min(10, len(la))
    early = max(abs(x - y) / max(abs(y), 1e-6) for (_, x), (_, y) in zip(la[:first], lb[:first]))
    # Epoch losses: two float32 implementations that sum in different orders
    # agree step by step at first (the early check) and then follow the same
    # curve only on average. Late in training the loss is small (0.065 after
    # 3 epochs of the default recipe), so a relative limit alone turns noise
    # into failure (the first H200 run: 0.0652 against 0.0674, 3.4%): an
    # epoch loss passes within 3% or within 0.005 nats.
    epoch = max(abs(x - y) / max(abs(y), 1e-6) for (_, x), (_, y) in zip(ea, eb))
    epoch_abs = max(abs(x - y) for (_, x), (_, y) in zip(ea, eb))
    epoch_ok = all(abs(x - y) <= max(0.03 * abs(y), 0.005) for (_, x), (_, y) in zip(ea, eb))
    # Test accuracy: the same drift moves it too. The cpu backend's own two
    # kernel sets (MNIST_CPU_KERNELS=go against avx512: the same arithmetic
    # summed in another order) end epoch 1 of the default recipe at 95.01%
    # and 95.47%, 0.46 points apart; the limit is 1 point.
    acc = max(abs(x - y) for (_, x), (_, y) in zip(aa, ab))
    ok = early <= 1e-3 and epoch_ok and acc <= 0.01
    record("tensorboard-curves", "pass" if ok else "fail",
           f"{len(la)} steps read by TensorBoard from each run; first {first} steps differ by ≤ {early:.2e} "
           f"(limit 1e-3), epoch losses by ≤ {100 * epoch:.2f}% or {epoch_abs:.4f} (limit 3% or 0.005 each), "
           f"test accuracy by ≤ {acc:.4f} (limit 0.01)",
           steps=len(la), early_rel=early, epoch_rel=epoch, epoch_abs=epoch_abs, accuracy_abs=acc)


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return dims, data[4 + 4 * ndim :]


def find(data_dir, name):
    for suffix in (".gz", ""):
        p = os.path.join(data_dir, name + suffix)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{name}(.gz) not in {data_dir}")


def check_model(path, data_dir):
    try:
        import torch
        from safetensors.torch import load_file
    except ImportError as e:
        record("safetensors-model", "skip", f"no torch or safetensors package: {e}")
        return
    try:
        tensors = load_file(path)
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            meta = json.loads(f.read(n)).get("__metadata__", {})
        layers = sorted({int(k.split(".")[1]) for k in tensors if k.startswith("model.") and k.endswith(".weight")})
        mods = [torch.nn.Flatten()]
        for i, idx in enumerate(layers):
            w, b = tensors[f"model.{idx}.weight"], tensors[f"model.{idx}.bias"]
            lin = torch.nn.Linear(w.shape[1], w.shape[0])
            lin.weight.data.copy_(w)
            lin.bias.data.copy_(b)
            mods.append(lin)
            if i < len(layers) - 1:
                mods.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*mods).eval()
        mean, std = 0.0, 1.0
        for part in meta.get("normalization", "").split():
            k, _, v = part.partition("=")
            if k == "mean":
                mean = float(v)
            elif k == "std":
                std = float(v)
        (count, rows, cols), pixels = read_idx(find(data_dir, "t10k-images-idx3-ubyte"))
        _, labels = read_idx(find(data_dir, "t10k-labels-idx1-ubyte"))
        x = torch.frombuffer(bytearray(pixels), dtype=torch.uint8).float().view(count, rows * cols) / 255.0
        x = (x - mean) / std
        y = torch.frombuffer(bytearray(labels), dtype=torch.uint8).long()
        with torch.no_grad():
            acc = float((model(x).argmax(1) == y).float().mean())
        want = float(meta["test_accuracy"])
        ok = abs(acc - want) <= 0.002
        record("safetensors-model", "pass" if ok else "fail",
               f"safetensors.torch.load_file read {len(tensors)} tensors ({', '.join(sorted(tensors))}); "
               f"PyTorch evaluates them to {acc:.4f} test accuracy, the file records {want:.4f} (limit 0.002)",
               accuracy=acc, recorded=want)
    except Exception as e:
        record("safetensors-model", "fail", f"{type(e).__name__}: {e}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs=2, metavar=("CUDA_RUN", "CPU_RUN"))
    p.add_argument("--model")
    p.add_argument("--data-dir", default=os.environ.get("MNIST_DATA", "data"))
    args = p.parse_args()
    if args.runs:
        check_runs(*args.runs)
    if args.model:
        check_model(args.model, args.data_dir)
    print(json.dumps({"checks": checks}))
    sys.exit(1 if any(c["status"] == "fail" for c in checks) else 0)


if __name__ == "__main__":
    main()
