"""The paper's reported numbers (Zhang, Tang et al., LOP 2022), on its private data.

Rank-1 and mAP in percent. Shown beside ours for reference only: the paper's data (300 shoe
types, 3 CCTV cameras, 5 floors) is private, so the numbers are not directly comparable.
"""

from __future__ import annotations

# Table 1: attention variants, FC features, no label smoothing.
TABLE1 = {
    "none": {"rank1": 61.09, "mAP": 46.34},
    "se": {"rank1": 59.14, "mAP": 43.79},
    "cbam": {"rank1": 62.65, "mAP": 45.86},
    "eca": {"rank1": 59.14, "mAP": 45.71},
    "dual_pool": {"rank1": 65.37, "mAP": 47.99},
}

# Table 2: feature heads of the dual_pool model.
TABLE2 = {
    "fc": {"rank1": 65.37, "mAP": 47.99},
    "avg": {"rank1": 69.65, "mAP": 52.59},
    "maxavg": {"rank1": 73.15, "mAP": 54.44},
    "max": {"rank1": 73.93, "mAP": 54.87},
}

# Table 3: label smoothing epsilon for dual_pool with layer4+max features. The paper reports
# only eps=0.14 besides eps=0 (the Table 2 max row); the sweep's other values are not given.
TABLE3 = {
    0.0: {"rank1": 73.93, "mAP": 54.87},
    0.14: {"rank1": 74.32, "mAP": 56.97},
}
