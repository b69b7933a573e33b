"""A keyed process pool for the dataset builder: run one function over many tasks, with a
progress bar, in spawned worker processes (one OpenCV thread each) or in this process.

Results are keyed like the tasks, so what a caller does with them never depends on which
worker finished first.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed

from tqdm import tqdm


def available_cpus() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def limit_threads() -> None:
    """Worker initializer: one OpenCV thread per process, since the processes share the cores."""
    import cv2

    cv2.setNumThreads(1)


def run_tasks(function, tasks: dict[str, tuple], weights: dict[str, int], workers: int | None,
              description: str, unit: str, progress_bar: bool = True) -> dict[str, object]:
    """Run `function(*tasks[key])` for every key, in a process pool of `workers` processes
    (None: one per available core) when that is more than 1.

    Results are keyed like `tasks`, so their use never depends on completion order;
    the progress bar advances by `weights[key]` per finished task.
    """
    results = {}
    workers = min(workers or available_cpus(), len(tasks))
    with tqdm(total=sum(weights.values()), desc=description, unit=unit, disable=not progress_bar) as progress:
        if workers <= 1:
            for key, arguments in tasks.items():
                results[key] = function(*arguments)
                progress.update(weights[key])
            return results
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=limit_threads) as pool:
            futures = {pool.submit(function, *arguments): key for key, arguments in tasks.items()}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                progress.update(weights[futures[future]])
    return results
