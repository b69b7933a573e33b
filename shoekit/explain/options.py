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
MIN_MAP_SIDE = 3  # px a side: a CAM on a coarser feature map cannot outline a shoe


def default_layer(image_size: int, last_stride: int = 2) -> str:
    """The layer to explain a model with `image_size` px inputs by: the paper's layer4.2 where its
    feature map has at least MIN_MAP_SIDE px a side (96 px inputs and up with the default stride),
    else the last bottleneck of the deepest stage that has (layer3.5 for 64 px inputs)."""
    for layer, stride in (("layer4.2", 16 * last_stride), ("layer3.5", 16), ("layer2.3", 8)):
        if -(-image_size // stride) >= MIN_MAP_SIDE:
            return layer
    return "layer1.2"
