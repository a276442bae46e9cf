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


def case(name, spec, modules, input_shape, rows, labels, running=None, smoothing=0.0):
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
    loss = torch.nn.functional.cross_entropy(z, torch.tensor(labels), reduction="sum", label_smoothing=smoothing)
    loss.backward()
    out = {"name": name, "spec": spec, "smoothing": smoothing, "input": [float(v) for v in x.flatten()], "labels": labels, "rows": rows,
           "parameters": [float(v) for p in params for v in p.detach().flatten()],
           "loss": float(loss), "gradient": [float(v) for p in params for v in p.grad.flatten()]}
    norms = [m for m in modules if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if norms:
        # training mode moved the running statistics: r = 0.9·r0 + 0.1·(batch mean, unbiased batch variance)
        out["batch_mean"] = [float(v) for m in norms for v in (m.running_mean - 0.9 * 0) / 0.1]
        out["batch_var"] = [float(v) for m in norms for v in (m.running_var - 0.9 * 1) / 0.1]
        # evaluation with given running statistics: the network's outputs
        for k, m in enumerate(norms):
            m.running_mean.copy_(torch.tensor(values(m.num_features, 7 + k, 0.3)))
            m.running_var.copy_(torch.tensor([1.2 + 0.5 * math.sin(i + k) for i in range(m.num_features)]))
        net.eval()
        with torch.no_grad():
            out["eval_running"] = [[float(v) for v in m.running_mean] + [float(v) for v in m.running_var] for m in norms]
            out["eval_output"] = [float(v) for v in torch.softmax(net(x), dim=1).flatten()]
    return out


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
    case("batch normalisation of a convolution's channels (one shard: the whole batch)",
         {"input": [1, 4, 4], "loss": "ce", "layers": [{"type": "conv", "filters": 2, "kernel": 3, "padding": 1, "activation": "identity"},
                                                       {"type": "batchnorm", "activation": "relu"}, {"type": "flatten"}, {"type": "dense", "units": 3}]},
         [torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.BatchNorm2d(2), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(32, 3)], [1, 4, 4], 5, [1, 0, 2, 2, 1]),
    case("label smoothing 0.1 on a LeakyReLU network",
         {"input": 6, "loss": "ce", "layers": [{"type": "dense", "units": 5, "activation": "leaky-relu"}, {"type": "dense", "units": 4}]},
         [torch.nn.Linear(6, 5), torch.nn.LeakyReLU(), torch.nn.Linear(5, 4)], [6], 5, [0, 3, 1, 2, 3], smoothing=0.1),
    case("batch normalisation of dense features",
         {"input": 6, "loss": "ce", "layers": [{"type": "dense", "units": 4, "activation": "identity"}, {"type": "batchnorm", "activation": "tanh"},
                                                {"type": "dense", "units": 3}]},
         [torch.nn.Linear(6, 4), torch.nn.BatchNorm1d(4), torch.nn.Tanh(), torch.nn.Linear(4, 3)], [6], 6, [0, 1, 2, 2, 1, 0]),
]
print(json.dumps({"torch": torch.__version__, "cases": cases}, indent=1))
