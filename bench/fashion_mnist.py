"""Fashion-MNIST as the Debian package `dataset-fashion-mnist` installs it: the IDX reader the PyTorch peers share."""
import gzip, struct
import numpy as np

D = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """An IDX file (gzip), as a uint8 array of its dimensions."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = struct.unpack(">I", data[:4])[0] & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
