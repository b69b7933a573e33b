"""Several processes: torchrun trains with DDP (gloo, 2 CPU processes) and extracts in shards."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import torch

from shoekit.distributed import DistContext, init_distributed
from shoekit.runs import load_run
from tests.conftest import TINY_SIZE, write_tiny_dataset


def test_shards_cover_the_items_in_order():
    for world in (1, 2, 3, 5):
        shards = [DistContext(rank=rank, world_size=world).shard(11) for rank in range(world)]
        assert [item for shard in shards for item in shard] == list(range(11))


def test_one_process_context_is_the_plain_path():
    context = init_distributed("cpu")
    assert not context.active and context.is_main and context.device == torch.device("cpu")
    rows = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert context.gather_rows(rows) is rows and context.sum([1.0, 2.0]) == [1.0, 2.0]
    assert context.extract(lambda dataset: {"max": np.asarray(dataset)}, [[1.0], [2.0]])["max"].shape == (2, 1)
    loader = context.epoch_loader(list(range(10)), batch_size=4, seed=0, num_workers=0)
    assert len(loader) == 2 and context.wrap(torch.nn.Linear(1, 1)).__class__ is torch.nn.Linear


def test_torchrun_two_cpu_processes_train_and_evaluate(tmp_path):
    data = write_tiny_dataset(tmp_path / "tiny")
    run_dir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "shoekit", "train", "--data", str(data), "--out", str(run_dir), "--image-size",
               str(TINY_SIZE), "--epochs", "1", "--batch-size", "16", "--warmup-steps", "1", "--num-workers",
               "0", "--no-progress", "--evaluate"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained ") == 1 and done.stdout.count("evaluated ") == 1
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["train"]["processes"] == 2 and metrics["train"]["epochs"] == 1
    assert set(metrics["eval"]) == {"fc", "avg", "max", "maxavg", "gem"}
    assert metrics["eval"]["max"]["num_gallery"] == 15 and metrics["eval"]["max"]["num_valid_queries"] == 6
    features = np.load(run_dir / "eval" / "max" / "features.npz")
    assert features["gallery"].shape == (15, 2048) and features["query"].shape == (6, 2048)
    np.testing.assert_array_equal(features["gallery_rows"], np.sort(features["gallery_rows"]))
    assert pd.read_csv(run_dir / "train_log.csv")["epoch"].tolist() == [1]
    assert load_run(run_dir).epoch == 1
