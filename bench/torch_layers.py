#!/usr/bin/env python3
"""Loss and every parameter's gradient of small networks with the newer layers, computed by PyTorch for fixed weights,
inputs and labels, for LayerReferenceTests (our flat parameter layout: per layer W then b; LayerNorm γ then β).

Run once; the output is committed:
    /usr/bin/python3 bench/torch_layers.py > tests/DistributedNN.Tests/Engine/torch-layers.json
"""
import json
import math

import torch

torch.manual_seed(0)


def values(n, seed, scale=1.0):
    return [scale * math.sin(seed * 1.3 + i * 0.77) + 0.1 * math.cos(i * seed) for i in range(n)]


def case(name, spec, modules, input_shape, rows, labels):
    params = []
    for m in modules:
        for p in m.parameters():
            t = torch.tensor(values(p.numel(), len(params) + 2, 0.6), dtype=torch.float32).reshape(p.shape)
            with torch.no_grad():
                p.copy_(t)
            params.append(p)
    x = torch.tensor(values(rows * math.prod(input_shape), 1), dtype=torch.float32).reshape([rows] + input_shape)
    net = torch.nn.Sequential(*modules)
    z = net(x)
    loss = torch.nn.functional.cross_entropy(z, torch.tensor(labels), reduction="sum")
    loss.backward()
    return {"name": name, "spec": spec, "input": [float(v) for v in x.flatten()], "labels": labels, "rows": rows,
            "parameters": [float(v) for p in params for v in p.detach().flatten()],
            "loss": float(loss), "gradient": [float(v) for p in params for v in p.grad.flatten()]}


cases = [
    case("layernorm after a dense layer, GELU after it",
         {"input": 6, "loss": "ce", "layers": [{"type": "dense", "units": 5, "activation": "identity"},
                                                {"type": "layernorm", "activation": "gelu"}, {"type": "dense", "units": 3}]},
         [torch.nn.Linear(6, 5), torch.nn.LayerNorm(5), torch.nn.GELU(), torch.nn.Linear(5, 3)], [6], 4, [0, 2, 1, 2]),
    case("layernorm over a convolution's channels and positions",
         {"input": [1, 4, 4], "loss": "ce", "layers": [{"type": "conv", "filters": 2, "kernel": 3, "padding": 1, "activation": "identity"},
                                                       {"type": "layernorm", "activation": "silu"}, {"type": "flatten"}, {"type": "dense", "units": 3}]},
         [torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.LayerNorm([2, 4, 4]), torch.nn.SiLU(), torch.nn.Flatten(), torch.nn.Linear(32, 3)], [1, 4, 4], 3, [1, 0, 2]),
    case("global average pooling",
         {"input": [2, 5, 4], "loss": "ce", "layers": [{"type": "conv", "filters": 3, "kernel": 3, "padding": 1, "activation": "leaky-relu"},
                                                       {"type": "globalavgpool"}, {"type": "dense", "units": 4, "activation": "elu"}, {"type": "dense", "units": 3}]},
         [torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.LeakyReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 4), torch.nn.ELU(),
          torch.nn.Linear(4, 3)], [2, 5, 4], 3, [2, 2, 0]),
]
print(json.dumps({"torch": torch.__version__, "cases": cases}, indent=1))
