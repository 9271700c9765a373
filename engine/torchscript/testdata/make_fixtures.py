#!/usr/bin/env python3
"""Writes the fixtures of engine/torchscript (needs PyTorch; CI does not).

  views.pt        torch.save of a nested dict of tensors that are views of
                  shared storages (offsets, transposes, stride-0 expands) in
                  every storage type the reader decodes, plus non-tensor
                  values it must skip
  module.pt       torch.jit.save of a scripted module with a submodule, a
                  Sequential, a buffer, a None bias and a non-contiguous
                  parameter
  expected.json   for each file, name -> shape and the float32 bit patterns
                  of the values (bit patterns, so that inf and the exact
                  fp16/bf16 roundings survive JSON)

Run from this folder:  python3 make_fixtures.py
"""
import json
import struct

import torch
from torch import nn


def bits(t):
    vals = t.detach().to(torch.float32).contiguous().reshape(-1).tolist()
    return [struct.unpack("<I", struct.pack("<f", v))[0] for v in vals]


def expected(tensors):
    return {k: {"shape": list(v.shape), "bits": bits(v)} for k, v in tensors.items()}


class Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.register_buffer("count", torch.tensor(7))

    def forward(self, x):
        return self.lin(x)


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Inner()
        self.seq = nn.Sequential(nn.Linear(2, 4, bias=False), nn.ReLU(), nn.Linear(4, 2))
        self.weight_t = nn.Parameter(torch.randn(4, 3).t())  # stride (1, 3)
        self.scale = 2.5  # a float attribute: not a tensor
        self.tag = "outer"

    def forward(self, x):
        return self.seq(self.inner(x)) * self.scale + self.weight_t.sum()


def main():
    torch.manual_seed(7)
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 8
    half = torch.tensor([1 / 3, -2.0, 65504.0, 6e-8, float("inf"), -0.0], dtype=torch.float16)
    views = {
        "base": base,
        "row2": base[2],                                   # offset 12
        "cols": base[:, 1:5:2],                             # offset 1, stride (6, 2)
        "transposed": base.t(),                             # stride (1, 6)
        "expanded": torch.tensor([1.5, -2.5]).expand(3, 2),  # stride (0, 1)
        "half": half,
        "half_tail": half[3:],
        "bf16": torch.tensor([[1 / 3, -7.25], [1e30, 3.0]], dtype=torch.bfloat16).t(),
        "double": torch.tensor([0.1, -1e-3], dtype=torch.float64),
        "long": torch.tensor(224),
        "int": torch.tensor([-3, 4], dtype=torch.int32),
        "short": torch.tensor([-300], dtype=torch.int16),
        "int8": torch.tensor([-128, 127], dtype=torch.int8),
        "uint8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 3),
        "nested": {"list": [torch.ones(2), torch.full((1, 2), -1.0)], "tuple": (torch.tensor([9.0]),), 3: torch.tensor([3.0])},
        "meta": {"name": "x", "n": 3, "f": 2.5, "none": None, "flag": True, "bytes": b"\x00\xff"},
    }
    torch.save(views, "views.pt")
    flat = {}

    def walk(v, name):
        if isinstance(v, torch.Tensor):
            flat[name] = v
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(x, f"{name}.{k}" if name else str(k))
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                walk(x, f"{name}.{i}")
    walk(views, "")

    module = Outer()
    module.inner.lin.weight.data = module.inner.lin.weight.data.half()
    torch.jit.save(torch.jit.script(module), "module.pt")

    with open("expected.json", "w") as fh:
        json.dump({"views.pt": expected(flat), "module.pt": expected(module.state_dict())}, fh, indent=0, sort_keys=True)
        fh.write("\n")


if __name__ == "__main__":
    main()
