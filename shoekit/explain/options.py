"""Names of the CAM methods and the default target layer; no heavy imports (the CLI lists them)."""

from __future__ import annotations

# shoekit name -> class name in the `pytorch_grad_cam` package (resolved in cams.py).
CAM_METHOD_CLASSES: dict[str, str] = {
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "layercam": "LayerCAM",
}
DEFAULT_METHOD = "gradcam"
# The last bottleneck of layer4 in ResNet50 (3-4-6-3 bottlenecks): the paper's Grad-CAM layer.
DEFAULT_LAYER = "layer4.2"
