#!/usr/bin/python3
"""Fashion-MNIST CNN throughput anchor (PyTorch CPU), the convolutional counterpart of
../shared/peers/torch_mlp.py.
Usage: /usr/bin/python3 bench/torch_cnn.py --threads N [--epochs 5] [--batch 64]
           [--optimizer adam|sgd] [--lr 0.001] [--seed 0] [--limit N]
Network (NCHW, float32, inputs scaled to [0,1]):
  1x28x28 -> Conv(1,32,5)+ReLU -> MaxPool 2 -> Conv(32,64,5)+ReLU -> MaxPool 2
  -> flatten 1024 -> Linear(1024,128)+ReLU -> Linear(128,10) -> softmax cross-entropy (batch mean)
Reshuffled every epoch, last partial batch kept. Only the training loop of each epoch is timed;
the test accuracy printed per epoch is measured after the timer stops.
Needs python3-torch with libopenblas0-openmp (see ../shared/peers/README.md).
"""
import argparse, statistics, time
import numpy as np
import torch
from torch import nn
from fashion_mnist import D, read_idx


def images(name):
    return torch.from_numpy(read_idx(f"{D}/{name}").astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)


def labels(name):
    return torch.from_numpy(read_idx(f"{D}/{name}").astype(np.int64))


p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
p.add_argument("--lr", type=float, default=0.001)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--limit", type=int, default=0, help="use only the first N training samples (0: all)")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)

Xtr, Ytr = images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz")
Xte, Yte = images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz")
if a.limit > 0:
    Xtr, Ytr = Xtr[:a.limit], Ytr[:a.limit]
N = Xtr.shape[0]

model = nn.Sequential(
    nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Linear(64 * 4 * 4, 128), nn.ReLU(),
    nn.Linear(128, 10),
)
if a.optimizer == "adam":
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
else:
    opt = torch.optim.SGD(model.parameters(), lr=a.lr)
loss_fn = nn.CrossEntropyLoss()


def test_accuracy():
    model.eval()
    correct = 0
    with torch.no_grad():
        # Chunks of 250 (18 MB conv output): glibc serves blocks under 32 MB from its heap after
        # the first one, while 1000-image chunks (74 MB) would be mapped fresh each time (page faults).
        for i in range(0, Xte.shape[0], 250):
            correct += (model(Xte[i:i + 250]).argmax(1) == Yte[i:i + 250]).sum().item()
    model.train()
    return correct / Xte.shape[0]


print(f"torch {torch.__version__} threads={torch.get_num_threads()} model=cnn optimizer={a.optimizer} "
      f"lr={a.lr} batch={a.batch} train_samples={N}")
times = []
acc = 0.0
for ep in range(a.epochs):
    t0 = time.perf_counter()
    perm = torch.randperm(N)
    total = 0.0
    for i in range(0, N, a.batch):
        idxs = perm[i:i + a.batch]
        x, y = Xtr[idxs], Ytr[idxs]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        total += loss.item() * x.shape[0]
    dt = time.perf_counter() - t0
    times.append(dt)
    acc = test_accuracy()
    print(f"epoch {ep + 1}: train_loss {total / N:.4f}  test_acc {acc:.4f}  {dt:.3f} s  {N / dt:.0f} samples/s",
          flush=True)
med = statistics.median(times)
print(f"RESULT system=pytorch model=cnn threads={a.threads} batch={a.batch} epochs={a.epochs} "
      f"median_epoch_s={med:.3f} median_samples_per_s={N / med:.0f} test_acc={acc:.4f}")
