"""The names every choice option of shoekit accepts, defined once; imports nothing but the standard
library, so the CLI parsers offer them without loading torch (`shoekit --help` stays fast).

The library validates against these lists and maps each name to what it builds
(`shoekit.models.attention.ATTENTIONS`, `shoekit.models.heads.POOLINGS`, ...; tests check that
every list and its mapping agree). Choices owned by a module that is itself light stay there:
index kinds (`shoekit.index.settings.KINDS`), CAM methods (`shoekit.explain.options`) and the
training recipes (`shoekit.config.RECIPES`).
"""

from __future__ import annotations

# Models: the attention module in every bottleneck, in the paper's order (Table 1).
ATTENTIONS: tuple[str, ...] = ("none", "se", "cbam", "eca", "dual_pool")
# Retrieval feature heads: the classifier's output, poolings of layer4's map, and the feature after
# a BNNeck (models built with neck "bnneck" only).
POOLING_HEADS: tuple[str, ...] = ("avg", "max", "maxavg", "gem")
NECK_HEADS: tuple[str, ...] = ("bnneck",)
HEADS: tuple[str, ...] = ("fc", *POOLING_HEADS, *NECK_HEADS)
NECKS: tuple[str, ...] = ("none", "bnneck")
CLASSIFIERS: tuple[str, ...] = ("linear", "cosine")
LAST_STRIDES: tuple[int, ...] = (1, 2)

# Training: losses, optimisation and what the model trains on.
MARGINS: tuple[str, ...] = ("none", "cosface", "arcface")
SMOOTHING_FORMS: tuple[str, ...] = ("paper", "pytorch")
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd")
SCHEDULES: tuple[str, ...] = ("cosine", "step")
SAMPLERS: tuple[str, ...] = ("random", "pk")
RENDERS: tuple[str, ...] = ("auto", "online", "fixed")

# Datasets and experiment grids.
SPLITS: tuple[str, ...] = ("train", "query", "gallery", "distractor")
SCALES: tuple[str, ...] = ("smoke", "cpu", "paper")  # dataset sizes (make-dataset) and grid training sizes
TABLES: tuple[str, ...] = ("table1", "table2", "table3")  # the paper's tables `shoekit reproduce` runs
EPSILONS: tuple[float, ...] = (0.0, 0.12, 0.13, 0.14, 0.15)  # Table 3's label smoothings

# Evaluation and deployment.
METRICS: tuple[str, ...] = ("cosine", "euclidean")
BACKENDS: tuple[str, ...] = ("torch", "onnx")
EXPORTERS: tuple[str, ...] = ("dynamo", "torchscript")
