"""The P×K sampler: P identities × K images per batch, deterministic, covering the data."""

from collections import Counter

import pytest

from shoekit.data import PKBatchSampler

LABELS = [label for label in range(6) for _ in range(8)]  # 6 identities × 8 images


def test_every_batch_is_p_identities_times_k_images():
    sampler = PKBatchSampler(LABELS, p=3, k=4, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 4  # 6 ids × 2 groups of 4 = 12 groups, 3 per batch
    for batch in batches:
        counts = Counter(LABELS[i] for i in batch)
        assert len(batch) == 12 and len(counts) == 3 and set(counts.values()) == {4}
    assert sorted(i for batch in batches for i in batch) == list(range(len(LABELS)))  # each image once


def test_identities_with_few_images_are_filled_from_themselves():
    labels = [0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
    batches = list(PKBatchSampler(labels, p=2, k=4, seed=1))
    assert len(batches) == len(PKBatchSampler(labels, p=2, k=4))
    for batch in batches:
        counts = Counter(labels[i] for i in batch)
        assert len(counts) == 2 and set(counts.values()) == {4}
    seen = {i for batch in batches for i in batch}
    assert {5, 6} <= seen  # identity 1's two images, repeated to make K = 4


def test_same_seed_same_batches_other_seed_other_order():
    assert list(PKBatchSampler(LABELS, 3, 4, seed=5)) == list(PKBatchSampler(LABELS, 3, 4, seed=5))
    assert list(PKBatchSampler(LABELS, 3, 4, seed=5)) != list(PKBatchSampler(LABELS, 3, 4, seed=6))


def test_impossible_settings_are_explained():
    with pytest.raises(ValueError, match="between 2 and the 6 identities"):
        PKBatchSampler(LABELS, p=7, k=4)
    with pytest.raises(ValueError, match="at least 2"):
        PKBatchSampler(LABELS, p=3, k=1)
