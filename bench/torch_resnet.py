#!/usr/bin/python3
"""The residual CNN of examples/fashion-resnet.json in PyTorch, trained with the same recipe, for reference (accuracy and
samples/s beside `dnn train --model-spec examples/fashion-resnet.json`).
Usage: /usr/bin/python3 bench/torch_resnet.py [--threads 2] [--epochs 15] [--limit N] [--seed 0]
Network (NCHW, inputs scaled to [0, 1]): conv3×3(16)+BN+ReLU, a residual block of two conv3×3+BN (16), conv3×3/2(32)+BN+ReLU,
a block (32), conv3×3/2(64)+BN+ReLU, a block (64), global average pooling, Linear(64, 10), cross-entropy.
Recipe: AdamW lr 0.004 with OneCycleLR (cosine, 30% up, div 25, final div 1e4, no momentum cycling), weight decay 5e-4 on
weights only (none on biases and BatchNorm), batch 128, RandomCrop(28, padding 2) and RandomHorizontalFlip.
One difference: torch's BatchNorm normalises over the whole batch of 128; dnn's over each of its 4 shards of 32 (as
DistributedDataParallel over 4 processes would).
Needs python3-torch with libopenblas0-openmp (see ../shared/peers/README.md).
"""
import argparse
import time

import numpy as np
import torch
from torch import nn
from fashion_mnist import D, read_idx


def images(name):
    return torch.from_numpy(read_idx(f"{D}/{name}").astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)


def labels(name):
    return torch.from_numpy(read_idx(f"{D}/{name}").astype(np.int64))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a, self.na = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.b, self.nb = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(x + self.nb(self.b(torch.relu(self.na(self.a(x))))))


def down(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


def augment(x, generator):
    # RandomCrop(28, padding=2) and RandomHorizontalFlip, per sample (grouped by shift: 25 slices a batch)
    n = x.shape[0]
    padded = nn.functional.pad(x, (2, 2, 2, 2))
    out = torch.empty_like(x)
    shifts = torch.randint(0, 5, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    for dy in range(5):
        for dx in range(5):
            m = (shifts[:, 0] == dy) & (shifts[:, 1] == dx)
            if bool(m.any()):
                out[m] = padded[m, :, dy:dy + 28, dx:dx + 28]
    return torch.where(flips[:, None, None, None], out.flip(3), out)


p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--epochs", type=int, default=15)
p.add_argument("--batch", type=int, default=128)
p.add_argument("--lr", type=float, default=0.004)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--limit", type=int, default=0, help="use only the first N training samples (0: all)")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
g = torch.Generator().manual_seed(a.seed)

Xtr, Ytr = images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz")
Xte, Yte = images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz")
if a.limit:
    Xtr, Ytr = Xtr[:a.limit], Ytr[:a.limit]

net = nn.Sequential(down(1, 16, 1), Block(16), down(16, 32, 2), Block(32), down(32, 64, 2), Block(64),
                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
decay = [p for n, p in net.named_parameters() if p.dim() > 1]
plain = [p for n, p in net.named_parameters() if p.dim() <= 1]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 5e-4}, {"params": plain, "weight_decay": 0.0}], lr=a.lr)
steps = (len(Xtr) + a.batch - 1) // a.batch
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps * a.epochs, cycle_momentum=False)
loss_fn = nn.CrossEntropyLoss()
for epoch in range(a.epochs):
    net.train()
    perm = torch.randperm(len(Xtr), generator=g)
    start = time.perf_counter()
    for s in range(steps):
        idx = perm[s * a.batch:(s + 1) * a.batch]
        x = augment(Xtr[idx], g)
        opt.zero_grad()
        loss = loss_fn(net(x), Ytr[idx])
        loss.backward()
        opt.step()
        sched.step()
    seconds = time.perf_counter() - start
    net.eval()
    with torch.no_grad():
        correct = sum(int((net(Xte[i:i + 1000]).argmax(1) == Yte[i:i + 1000]).sum()) for i in range(0, len(Xte), 1000))
    print(f"epoch {epoch + 1}/{a.epochs}  test_acc {100 * correct / len(Xte):.2f} %  {len(Xtr) / seconds:,.0f} samples/s  {seconds:.1f} s", flush=True)
