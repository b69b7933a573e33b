"""Identity-balanced batches for metric losses: P identities × K images each ("P×K sampling").

Each epoch every identity's images are shuffled and cut into groups of K (the last group, and
identities with fewer than K images, are filled by drawing again from the same identity);
each batch takes one group from each of the P identities with most groups left (ties broken at
random) until fewer than P identities have groups left. An epoch therefore visits about every
image once, as a plain shuffle does, and its length does not depend on the seed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


class PKBatchSampler(Sampler[list[int]]):
    """Batches of `p * k` dataset indices: `p` identities, `k` indices of each, deterministic by `seed`.

    `labels[i]` is item i's identity label. Use as `DataLoader(dataset, batch_sampler=...)`.
    """

    def __init__(self, labels: Sequence[int], p: int, k: int, seed: int = 0):
        if k < 2:
            raise ValueError(f"K (images per identity) must be at least 2 for triplets, not {k}")
        by_label: dict[int, list[int]] = defaultdict(list)
        for index, label in enumerate(labels):
            by_label[int(label)].append(index)
        if p < 2 or p > len(by_label):
            raise ValueError(f"P (identities per batch) must be between 2 and the {len(by_label)} "
                             f"identities of the data, not {p}; change --batch-size or "
                             "--instances-per-identity (P = batch size // K)")
        self.by_label = {label: np.array(indices) for label, indices in sorted(by_label.items())}
        self.p, self.k, self.seed = p, k, seed

    def groups(self, rng: np.random.Generator) -> dict[int, list[np.ndarray]]:
        """identity -> its shuffled indices cut into groups of exactly K."""
        result = {}
        for label, indices in self.by_label.items():
            order = rng.permutation(indices)
            missing = -len(order) % self.k
            if missing:
                order = np.concatenate([order, rng.choice(indices, missing, replace=True)])
            result[label] = list(order.reshape(-1, self.k))
        return result

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng(self.seed)
        groups = self.groups(rng)
        labels = np.array(list(groups))
        for _ in range(len(self)):
            shuffled = rng.permutation(labels)
            left = np.array([len(groups[label]) for label in shuffled])
            chosen = shuffled[np.argsort(-left, kind="stable")[:self.p]]
            yield [int(i) for label in chosen for i in groups[int(label)].pop()]

    def __len__(self) -> int:
        """Batches per epoch."""
        counts = [-(-len(indices) // self.k) for indices in self.by_label.values()]
        batches = 0
        while True:
            counts.sort(reverse=True)
            if counts[self.p - 1] == 0:
                return batches
            for i in range(self.p):
                counts[i] -= 1
            batches += 1
