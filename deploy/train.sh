#!/usr/bin/env bash
# The main job on a fresh machine: make sure the data set is there, build, and train on a
# one-machine cluster: the coordinator plus 2 worker processes on 127.0.0.1.
# Extra arguments go to `dnn train`, e.g. deploy/train.sh --epochs 10 --save model.dnn
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DNN_DATA:-}" ] && [[ " $* " != *" --data "* ]]; then
  deploy/install-data.sh
fi
exec dotnet run --project src/Coordinator -c Release -- train --spawn-workers 2 "$@"
