#!/usr/bin/env bash
# Installs the Fashion-MNIST data set (Debian package dataset-fashion-mnist) unless it is there already.
set -euo pipefail
dir=/usr/share/datasets/fashion-mnist
if [ -f "$dir/train-images-idx3-ubyte.gz" ] && [ -f "$dir/t10k-labels-idx1-ubyte.gz" ]; then
  exit 0
fi
echo "Installing Fashion-MNIST (apt package dataset-fashion-mnist) into $dir ..." >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
