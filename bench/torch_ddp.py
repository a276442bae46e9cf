#!/usr/bin/python3
"""The data-parallel peer of `dnn train --spawn-workers 2`: PyTorch DistributedDataParallel over the gloo backend.
Usage: /usr/bin/python3 bench/torch_ddp.py [--procs 2] [--threads 1] [--epochs 3] [--batch 1024] [--lr 0.1]
784-256-128-10, ReLU, softmax cross-entropy (mean over the global batch), plain SGD, float32, inputs scaled to [0, 1],
reshuffled every epoch with one permutation shared by every process. Each global batch is split evenly: process r takes
rows [r*B/P, (r+1)*B/P) of it; DDP averages the gradients with an all-reduce (gloo over TCP on 127.0.0.1) during the
backward pass. Prints one line per epoch (the global samples/s) and a final `RESULT ... median_samples_per_s=... test_acc=...`.
"""
import argparse, os, socket, time
import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from fashion_mnist import D, read_idx


def run(rank, a, port):
    torch.set_num_threads(a.threads)
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=a.procs)
    torch.manual_seed(a.seed)
    xtr = torch.from_numpy(read_idx(f"{D}/train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255.0)
    ytr = torch.from_numpy(read_idx(f"{D}/train-labels-idx1-ubyte.gz").astype(np.int64))
    n = xtr.shape[0]
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=a.lr)
    share = a.batch // a.procs
    times = []
    for ep in range(a.epochs):
        dist.barrier()
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(a.seed + ep))
        for i in range(0, n, a.batch):
            rows = perm[i + rank * share:min(n, i + (rank + 1) * share)]
            opt.zero_grad(set_to_none=True)
            # the mean over this process's rows; DDP averages over processes: the global batch mean when the split is even
            torch.nn.functional.cross_entropy(ddp(xtr[rows]), ytr[rows]).backward()
            opt.step()
        dist.barrier()
        dt = time.perf_counter() - t0
        times.append(dt)
        if rank == 0:
            print(f"epoch {ep + 1}: {dt:.3f} s  {n / dt:.0f} samples/s", flush=True)
    if rank == 0:
        xte = torch.from_numpy(read_idx(f"{D}/t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255.0)
        yte = torch.from_numpy(read_idx(f"{D}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
        with torch.no_grad():
            acc = (model(xte).argmax(1) == yte).float().mean().item()
        med = sorted(times)[len(times) // 2]
        print(f"RESULT system=pytorch-ddp-gloo procs={a.procs} threads={a.threads} batch={a.batch} median_epoch_s={med:.3f} "
              f"median_samples_per_s={n / med:.0f} test_acc={acc:.4f}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.batch % a.procs:
        raise SystemExit(f"--batch {a.batch} does not split evenly over {a.procs} processes")
    with socket.socket() as s:  # a free loopback port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(run, args=(a, port), nprocs=a.procs, join=True)
