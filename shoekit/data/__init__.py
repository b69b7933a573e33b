"""Datasets for shoekit: dataset folders (manifest + images), PyTorch loaders, folder import,
the benchmark builder, and the CCTV data generation (cut-outs, floors, simulation, alignment,
procedural shoes).

Names are imported on first use, so `import shoekit.data` does not pull in torch, pandas or
OpenCV.
"""

from __future__ import annotations

from shoekit.lazy import lazy_exports

LAZY_NAMES: dict[str, str] = {
    **dict.fromkeys(("align", "toe_heel_angle"), "alignment"),
    **dict.fromkeys(("MANIFEST_NAME", "SPLITS", "REQUIRED_COLUMNS", "OPTIONAL_COLUMNS",
                     "KEYPOINT_COLUMNS", "read_manifest", "validate_dataset", "manifest_hash",
                     "write_manifest"), "manifest"),
    **dict.fromkeys(("ShoeCrops", "train_transform", "eval_transform", "load_image_rgb"),
                    "datasets"),
    **dict.fromkeys(("import_folder", "ImportResult"), "folder_import"),
    "PKBatchSampler": "sampler",
    **dict.fromkeys(("build_dataset", "BuildOptions", "BuildResult"), "builder"),
    **dict.fromkeys(("ScalePreset", "SCALES"), "planning"),
    **dict.fromkeys(("Cutout", "load_cutout", "estimate_toe_heel"), "cutout"),
    **dict.fromkeys(("FLOORS", "render_floor"), "floors"),
    **dict.fromkeys(("CAMERAS", "CCTVRanges", "CCTVParams", "Crop", "sample_params",
                     "render_crop", "simulate_crop"), "cctv"),
    **dict.fromkeys(("VIEWS", "ShoeType", "make_shoe_types", "render_cutout"), "procedural"),
}

__all__ = list(LAZY_NAMES)

__getattr__, __dir__ = lazy_exports(__name__, LAZY_NAMES)
