// The worker executable joins a training cluster and computes shard gradients.
// Distributed training lands with the distributed-training issue; until then this
// executable only says so, so that nobody mistakes it for a working worker.
Console.Error.WriteLine("dnn-worker: distributed training is not available yet; use `dnn train` for single-process training.");
return 2;
