"""Writes a large MNIST-style IDX directory for the larger-than-memory benchmark (bench/larger-than-memory.sh).

The training set is Fashion-MNIST's 60,000 training images over and over, each copy shifted by its own (dy, dx) in
[-2, 2]^2 with zeros coming in (so no two copies are the same bytes), with their labels; the test set is Fashion-MNIST's.
Raw IDX (not gzip), written in chunks, never held whole in memory.
Usage: python3 bench/synthetic_idx.py DIR GIGABYTES
"""
import os, shutil, struct, sys
import numpy as np
from fashion_mnist import D, read_idx


def shifted(images, dy, dx):
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[:, yd, xd] = images[:, ys, xs]
    return out


def main(directory, gigabytes):
    images = read_idx(f"{D}/train-images-idx3-ubyte.gz")
    labels = read_idx(f"{D}/train-labels-idx1-ubyte.gz")
    n, h, w = images.shape
    copies = max(1, int(gigabytes * 1e9 // (n * h * w)))
    count = copies * n
    os.makedirs(directory, exist_ok=True)
    with open(f"{directory}/train-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, count, h, w))
        for c in range(copies):
            dy, dx = c % 5 - 2, (c // 5) % 5 - 2
            f.write(shifted(images, dy, dx).tobytes())
    with open(f"{directory}/train-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, count))
        for _ in range(copies):
            f.write(labels.tobytes())
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(f"{D}/{name}", f"{directory}/{name}")
    print(f"{directory}: {count} training images of {h}x{w} ({count * h * w / 1e9:.2f} GB as bytes, "
          f"{count * h * w * 4 / 2**30:.1f} GiB as float32)")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
