#!/usr/bin/env python3
"""PyTorch side of the safetensors interop tests (see torch_test.go).

    torch_load.py load PATH   load PATH into the tutorial MLP with
                              load_state_dict(strict=True); print its tensors
                              and the logits for a fixed input
    torch_load.py dump PATH   load PATH; print its tensors and metadata
    torch_load.py write PATH  write torch tensors of many dtypes to PATH;
                              print them and the metadata

Everything is printed as one JSON object on stdout. Each tensor is described
by its dtype, shape, sum, a position-weighted sum (which catches reordered
elements) and, for small tensors, its values.

When the safetensors package is installed, its load_file/save_file are used.
Otherwise (as on Debian, which does not package it) the format is read and
written here from the spec, with json, struct and torch.frombuffer only:
8-byte little-endian header length N, N bytes of JSON header, data. The
writer follows the reference writer's rules: tensors sorted by descending
dtype then name, compact JSON with "__metadata__" first, padded with spaces to
a multiple of 8 bytes.
"""
import ctypes
import json
import struct
import sys

import torch
from torch import nn

try:
    import safetensors.torch as st_torch
    from safetensors import safe_open
except ImportError:
    st_torch = None

# The dtypes this torch has, in the reference implementation's Dtype order
# (its writer sorts by that order, descending, then by name).
DTYPES = [
    ("BOOL", torch.bool), ("U8", torch.uint8), ("I8", torch.int8),
    ("I16", torch.int16), ("F16", torch.float16), ("BF16", torch.bfloat16),
    ("I32", torch.int32), ("F32", torch.float32), ("F64", torch.float64),
    ("I64", torch.int64),
]
TORCH = dict(DTYPES)
NAME = {t: n for n, t in DTYPES}
RANK = {n: i for i, (n, _) in enumerate(DTYPES)}
MAX_HEADER = 100_000_000


def read_spec(path):
    """Parse a safetensors file per the spec; return (tensors, metadata)."""
    if sys.byteorder != "little":
        raise SystemExit("this loader assumes a little-endian machine")
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError(f"{path}: shorter than 8 bytes")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > MAX_HEADER or 8 + n > len(buf):
        raise ValueError(f"{path}: bad header length {n}")
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", None) or {}
    data = memoryview(buf)[8 + n:]
    tensors, pos = {}, 0
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        begin, end = e["data_offsets"]
        dtype = TORCH[e["dtype"]]
        count = 1
        for d in e["shape"]:
            count *= d
        size = count * torch.empty((), dtype=dtype).element_size()
        if begin != pos or end - begin != size:
            raise ValueError(f"{path}: {name}: bad data_offsets {e['data_offsets']}")
        pos = end
        if size == 0:
            tensors[name] = torch.empty(e["shape"], dtype=dtype)
        else:  # bytearray: a private, writable, aligned copy
            raw = bytearray(data[begin:end])
            tensors[name] = torch.frombuffer(raw, dtype=dtype).reshape(e["shape"])
    if pos != len(data):
        raise ValueError(f"{path}: {len(data) - pos} bytes after the last tensor")
    return tensors, metadata


def write_spec(path, tensors, metadata):
    """Write tensors (a dict) and metadata per the spec, as the reference does."""
    order = sorted(tensors.items(), key=lambda kv: (-RANK[NAME[kv[1].dtype]], kv[0]))
    header, blobs, pos = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    for name, t in order:
        t = t.contiguous()
        size = t.numel() * t.element_size()
        blob = bytes((ctypes.c_ubyte * size).from_address(t.data_ptr())) if size else b""
        header[name] = {"dtype": NAME[t.dtype], "shape": list(t.shape),
                        "data_offsets": [pos, pos + size]}
        blobs.append(blob)
        pos += size
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read(path):
    if st_torch is not None:
        with safe_open(path, "pt") as f:
            metadata = f.metadata() or {}
        return st_torch.load_file(path), metadata
    return read_spec(path)


def describe(t):
    flat = t.detach().reshape(-1).to(torch.float64)
    weights = torch.arange(flat.numel(), dtype=torch.float64) % 13 + 1
    d = {"dtype": NAME[t.dtype], "shape": list(t.shape),
         "sum": float(flat.sum()), "wsum": float((flat * weights).sum())}
    if t.numel() <= 64:
        d["values"] = t.reshape(-1).tolist()
    return d


class Tutorial(nn.Module):
    """The PyTorch tutorial's MLP; its state_dict keys are model.1.weight etc."""

    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(),
                                   nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.model(x)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("load", "dump", "write"):
        raise SystemExit(__doc__)
    mode, path = sys.argv[1], sys.argv[2]
    out = {"impl": "safetensors.torch" if st_torch else "spec"}
    if mode == "load":
        tensors, out["metadata"] = read(path)
        model = Tutorial()
        model.load_state_dict(tensors, strict=True)
        out["tensors"] = {k: describe(v) for k, v in model.state_dict().items()}
        # Input pixel i is ((i % 5) - 2) / 4, as a [1, 28, 28] image.
        x = ((torch.arange(784) % 5 - 2).to(torch.float32) / 4).reshape(1, 28, 28)
        with torch.no_grad():
            out["logits"] = model(x)[0].tolist()
    elif mode == "dump":
        tensors, out["metadata"] = read(path)
        out["tensors"] = {k: describe(v) for k, v in tensors.items()}
    else:
        tensors = {
            "f64": torch.arange(6, dtype=torch.float64).reshape(2, 3) * 0.5 - 1,
            "f32": torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8 - 0.75,
            "f16": (torch.arange(5, dtype=torch.float32) / 4 - 0.5).to(torch.float16),
            "bf16": (torch.arange(4, dtype=torch.float32) * 2 - 3).to(torch.bfloat16).reshape(2, 2),
            "i64": torch.tensor([-(2 ** 40), -1, 0, 2 ** 62 + 5], dtype=torch.int64),
            "i32": torch.tensor([-(2 ** 31), 0, 2 ** 31 - 1], dtype=torch.int32),
            "i16": torch.tensor([-32768, 1, 32767], dtype=torch.int16),
            "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
            "u8": torch.tensor([0, 1, 128, 255], dtype=torch.uint8),
            "bool": torch.tensor([True, False, True]),
            "empty": torch.zeros(0, 3),
            "scalar": torch.tensor(2.5),
            "model.1.weight": torch.linspace(-1, 1, 64 * 784).reshape(64, 784),
        }
        metadata = {"format": "pt"}
        if st_torch is not None:
            st_torch.save_file(tensors, path, metadata=metadata)
        else:
            write_spec(path, tensors, metadata)
        out["metadata"] = metadata
        out["tensors"] = {k: describe(v) for k, v in tensors.items()}
    json.dump(out, sys.stdout, allow_nan=False)
    print()


if __name__ == "__main__":
    main()
