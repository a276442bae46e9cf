#!/usr/bin/env python3
"""The learning rate torch.optim.lr_scheduler gives each step, for the schedules `dnn train --lr-schedule` offers.

Writes the JSON that LearningRateScheduleTests compares with (run once; the output is committed):
    /usr/bin/python3 bench/torch_schedules.py > tests/DistributedNN.Tests/Training/torch-schedules.json
"""
import json

import torch


def rates(make, steps, lr):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


S = torch.optim.lr_scheduler
cases = [
    # name, dnn's settings, torch's scheduler
    {"name": "step", "lr": 0.1, "kind": "step", "warmup": 0, "stepEpochs": 2, "gamma": 0.5, "min": 0.0, "stepsPerEpoch": 5, "epochs": 6,
     "rates": rates(lambda o: S.StepLR(o, step_size=2 * 5, gamma=0.5), 30, 0.1)},
    {"name": "cosine", "lr": 0.1, "kind": "cosine", "warmup": 0, "stepEpochs": 0, "gamma": 0.1, "min": 0.001, "stepsPerEpoch": 10, "epochs": 3,
     "rates": rates(lambda o: S.CosineAnnealingLR(o, T_max=30, eta_min=0.001), 30, 0.1)},
    {"name": "one-cycle", "lr": 0.1, "kind": "one-cycle", "warmup": 0, "stepEpochs": 0, "gamma": 0.1, "min": 0.0, "stepsPerEpoch": 10, "epochs": 3,
     "rates": rates(lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=30, cycle_momentum=False), 30, 0.1)},
    {"name": "warm-up then cosine", "lr": 0.05, "kind": "cosine", "warmup": 5, "stepEpochs": 0, "gamma": 0.1, "min": 0.0, "stepsPerEpoch": 10, "epochs": 3,
     "rates": rates(lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=1 / 5, end_factor=1.0, total_iters=4),
                                                 S.CosineAnnealingLR(o, T_max=25)], milestones=[5]), 30, 0.05)},
    {"name": "warm-up then constant", "lr": 0.02, "kind": "constant", "warmup": 4, "stepEpochs": 0, "gamma": 0.1, "min": 0.0, "stepsPerEpoch": 3, "epochs": 3,
     "rates": rates(lambda o: S.LinearLR(o, start_factor=1 / 4, end_factor=1.0, total_iters=3), 9, 0.02)},
]
print(json.dumps({"torch": torch.__version__, "cases": cases}, indent=1))
