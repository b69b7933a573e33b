"""Why two shoe crops matched: Grad-CAM family heatmaps, guided backprop and Guided Grad-CAM.

    explainer = Explainer(run.model, head="max", method="gradcam")      # layer4.2 by default
    pair = explainer.explain_pair(query, gallery_item)                  # (3, H, W) in [0, 1] each
    pair.query.overlay, pair.match.cam, pair.match.guided_gradcam       # numpy, ready to draw
    gates = read_gates(run.model, images)          # every bottleneck's attention gate (gates.py)
    result = explainer.explain_query(query, top_matches, distances=..., identities=...)

Every CAM comes from the `grad-cam` package (pytorch-grad-cam); retrieval targets are the cosine
similarity to a reference feature (`SimilarityTarget`), classification targets a logit
(`ClassTarget`). Names are imported on first use, so `shoekit.explain.options` (method and layer
names, for the command line) loads without torch.
"""

from __future__ import annotations

from shoekit.lazy import lazy_exports

LAZY_NAMES: dict[str, str] = {
    **dict.fromkeys(("CAM_METHOD_CLASSES", "DEFAULT_METHOD", "DEFAULT_LAYER"), "options"),
    **dict.fromkeys(("CAM_METHODS", "compute_cams"), "cams"),
    **dict.fromkeys(("target_layer_names", "target_layer"), "layers"),
    **dict.fromkeys(("SimilarityTarget", "ClassTarget", "SimilarityModel"), "targets"),
    **dict.fromkeys(("guided_backprop", "guided_gradcam"), "guided"),
    **dict.fromkeys(("ImageExplanation", "PairExplanation", "QueryExplanation",
                     "cam_overlay", "gradient_image"), "results"),
    **dict.fromkeys(("Explainer",), "explainer"),
    **dict.fromkeys(("BlockGates", "GATE_RANGES", "read_gates", "gate_hooks", "extreme_channels",
                     "channel_spread"), "gates"),
    **dict.fromkeys(("attention_switched_off", "gallery_features", "candidate_positions", "switched_ranking",
                     "SwitchedRanking"), "attention_switch"),
    **dict.fromkeys(("StageMaps", "stage_maps"), "stages"),
    **dict.fromkeys(("EvaluationResults", "load_evaluation"), "evaluation"),
}

__all__ = list(LAZY_NAMES)

__getattr__, __dir__ = lazy_exports(__name__, LAZY_NAMES)
