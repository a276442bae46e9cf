#!/usr/bin/env python3
"""Forward and backward values of torch.nn's activations for one fixed input, for ActivationReferenceTests.

Run once; the output is committed:
    /usr/bin/python3 bench/torch_activations.py > tests/DistributedNN.Tests/Engine/torch-activations.json
"""
import json
import math

import torch

torch.set_default_dtype(torch.float32)
# from deep negative to large positive, small values around 0, and the thresholds of the engine's algorithms
z = [-12.0, -6.0, -3.7, -2.5, -2.4999, -1.0, -0.3, -0.25, -0.1, -1e-3, -1e-6, 0.0, 1e-6, 1e-3, 0.1, 0.2499, 0.25, 0.7,
     1.0, 1.9, 2.5, 3.3, 6.0, 12.0]
g = [math.sin(1.7 * i) + 0.1 for i in range(len(z))]  # the upstream gradient dE/da
modules = {"leaky-relu": torch.nn.LeakyReLU(), "elu": torch.nn.ELU(), "gelu": torch.nn.GELU(), "silu": torch.nn.SiLU(),
           "sigmoid": torch.nn.Sigmoid(), "tanh": torch.nn.Tanh(), "relu": torch.nn.ReLU()}
out = {"torch": torch.__version__, "z": z, "g": g, "activations": {}}
for name, m in modules.items():
    x = torch.tensor(z, requires_grad=True)
    a = m(x)
    a.backward(torch.tensor(g))
    out["activations"][name] = {"a": [float(v) for v in a.detach()], "delta": [float(v) for v in x.grad]}
# erf itself, in double
xs = [-7.0, -3.0, -2.5, -2.4, -1.0, -0.5, -1e-8, 0.0, 1e-8, 0.3, 1.0, 2.0, 2.5, 2.6, 4.0, 5.9, 6.5]
out["erf"] = {"x": xs, "erf": [math.erf(v) for v in xs]}
print(json.dumps(out, indent=1))
