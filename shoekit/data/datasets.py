"""PyTorch views of a dataset folder: image loading, transforms and `ShoeCrops`."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.v2 as transforms
from PIL import Image

from shoekit.data.alignment import align as align_toe_heel
from shoekit.data.image_policy import size_problem
from shoekit.data.masks import MASK_COLUMN, mask_file, read_mask
from shoekit.data.manifest import KEYPOINT_COLUMNS, SPLITS, escape_problem, read_manifest, row_label
from shoekit.errors import ImageError, ManifestError

SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def load_image_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as RGB: (H, W, 3) uint8.

    Grayscale, palette, CMYK and 16-bit images are converted; an alpha channel is composited
    over black (transparent pixels become black, whatever colour they stored). Raises
    ImageError naming the file when it is missing, cannot be decoded, or its size is outside
    `shoekit.data.image_policy` (checked before decoding).
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # size_problem decides
            with Image.open(path) as image:
                if why := size_problem(*image.size):
                    raise ImageError(f"{path}: {why}, or remove its manifest row")
                image.load()
                return to_rgb(image)
    except FileNotFoundError as error:
        raise ImageError(f"{path}: image file not found; restore it or remove its manifest "
                         "row") from error
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise ImageError(f"{path}: cannot read this image ({error}); replace it with a PNG "
                         "or JPEG file or remove its manifest row") from error


def to_rgb(image: Image.Image) -> np.ndarray:
    """A decoded PIL image of any mode as (H, W, 3) uint8 RGB (alpha composited over black)."""
    if image.mode in SIXTEEN_BIT_MODES:
        gray = np.asarray(image, dtype=np.float64) / 257.0
        return np.repeat(np.clip(np.rint(gray), 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    if image.mode == "F":
        gray = np.clip(np.rint(np.asarray(image, dtype=np.float64)), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if not has_alpha:
        return np.array(image.convert("RGB"))
    rgba = np.asarray(image.convert("RGBA"), dtype=np.uint16)
    alpha = rgba[..., 3:4]
    return ((rgba[..., :3] * alpha + 127) // 255).astype(np.uint8)


def train_transform(size: int = 120, random_erasing: float = 0.0, crop_scale: float = 1.0,
                    color_jitter: float = 0.0, blur: float = 0.0) -> Callable:
    """Training augmentation: PIL image or (H, W, 3) uint8 array -> float tensor (3, size, size).

    Resize to size×size (antialiased) or, with `crop_scale` < 1, a random resized crop of
    `crop_scale` to all of the area (aspect 3/4 to 4/3); random horizontal flip; with
    `color_jitter` > 0, brightness, contrast and saturation jittered by that fraction and hue by
    a fifth of it; with `blur` > 0, a Gaussian blur (sigma 0.1-1.5 px) with that probability;
    scale to [0, 1] (no mean/std normalisation: the model holds those), then torchvision
    RandomErasing with probability `random_erasing` (erased pixels set to 0) when it is above 0.
    """
    resize = (transforms.RandomResizedCrop((size, size), scale=(crop_scale, 1.0), antialias=True)
              if crop_scale < 1.0 else transforms.Resize((size, size), antialias=True))
    steps = [transforms.ToImage(), resize, transforms.RandomHorizontalFlip()]
    if color_jitter > 0:
        steps.append(transforms.ColorJitter(color_jitter, color_jitter, color_jitter, min(color_jitter / 5, 0.5)))
    if blur > 0:
        steps.append(transforms.RandomApply([transforms.GaussianBlur(5, sigma=(0.1, 1.5))], p=blur))
    steps.append(transforms.ToDtype(torch.float32, scale=True))
    if random_erasing > 0:
        steps.append(transforms.RandomErasing(p=random_erasing, value=0))
    return transforms.Compose([*steps, transforms.ToPureTensor()])


def eval_transform(size: int = 120) -> Callable:
    """Evaluation preprocessing: resize to size×size and scale to [0, 1]; (3, size, size) float."""
    return transforms.Compose([transforms.ToImage(),
                               transforms.Resize((size, size), antialias=True),
                               transforms.ToDtype(torch.float32, scale=True),
                               transforms.ToPureTensor()])


def to_tensor() -> Callable:
    """(H, W, 3) uint8 array -> float tensor (3, H, W) in [0, 1], no resizing."""
    return transforms.Compose([transforms.ToImage(), transforms.ToDtype(torch.float32, scale=True),
                               transforms.ToPureTensor()])


class ShoeCrops(torch.utils.data.Dataset):
    """The rows of a dataset folder whose split is in `splits`, as (image, label, index) items.

    `rows` holds those manifest rows in manifest order, with the manifest row number kept as
    column `row`; `identities[i]` is item i's identity; `label_map` maps identity -> class
    index (built from this dataset's identities, sorted, when not given). Items are
    `(image, label, i)`: image a float tensor (3, H, W) in [0, 1] after `transform` (plain
    conversion when None), label an int. With `align` and toe/heel keypoints in the row, the
    image is first rotated so the toe-heel line is level (toe on the right). `identities`, when
    given, keeps only the rows of those identities. With `cache`, every
    image is decoded (and aligned) once, here, and kept in memory as (H, W, 3) uint8 (43 KB per
    120 px crop); DataLoader workers forked later share it, so epochs decode nothing.
    """

    def __init__(self, root: str | Path, splits: Sequence[str], transform: Callable | None = None,
                 align: bool = True, label_map: dict[str, int] | None = None, cache: bool = False,
                 identities: Sequence[str] | None = None):
        self.root = Path(root)
        self.folder = self.root.resolve()
        if isinstance(splits, str):
            splits = (splits,)
        unknown = [split for split in splits if split not in SPLITS]
        if unknown:
            raise ManifestError(f"{self.root}: unknown split(s) {', '.join(unknown)} requested; "
                                f"choose from {', '.join(SPLITS)}")
        manifest = read_manifest(self.root)
        chosen = manifest["split"].isin(list(splits))
        if identities is not None:
            chosen &= manifest["identity"].isin(list(identities))
        self.rows = manifest[chosen].rename_axis("row").reset_index()
        self.identities: list[str] = self.rows["identity"].tolist()
        self.label_map = (label_map if label_map is not None
                          else {identity: label for label, identity in
                                enumerate(sorted(set(self.identities)))})
        self.labels = [self.label_of(index) for index in range(len(self.rows))]
        self.transform = transform if transform is not None else to_tensor()
        self.align = align
        has_keypoints = all(column in self.rows.columns for column in KEYPOINT_COLUMNS)
        self.keypoints = (self.rows[list(KEYPOINT_COLUMNS)].to_numpy(dtype=np.float64)
                          if has_keypoints else np.full((len(self.rows), 4), np.nan))
        self.cached: list[np.ndarray] | None = None
        if cache:
            with ThreadPoolExecutor(max_workers=4) as pool:  # PIL decodes with the GIL released
                self.cached = list(pool.map(self.load, range(len(self.rows))))

    def label_of(self, index: int) -> int:
        """The class index of item `index`; ManifestError if `label_map` lacks its identity."""
        identity = self.identities[index]
        if identity not in self.label_map:
            row = int(self.rows["row"].iat[index])
            raise ManifestError(f"{row_label(self.root / 'manifest.csv', row)}: identity "
                                f"{identity!r} is not in the given label_map; build the label "
                                "map from the same splits or pass label_map=None")
        return self.label_map[identity]

    def __len__(self) -> int:
        return len(self.rows)

    def image_path(self, index: int) -> Path:
        """The image file of item `index`; ImageError if it is a link leading out of the folder."""
        path = self.root / self.rows["path"].iat[index]
        if why := escape_problem(path, self.folder):
            raise ImageError(f"{self.row_name(index)}: {why}")
        return path

    def load(self, index: int) -> np.ndarray:
        """Item `index`'s image before `transform`: (H, W, 3) uint8, aligned when `align` applies."""
        image = load_image_rgb(self.image_path(index))
        toe_x, toe_y, heel_x, heel_y = self.keypoints[index]
        if self.align and not np.isnan(self.keypoints[index]).any():
            image = align_toe_heel(image, (toe_x, toe_y), (heel_x, heel_y))
        return image

    def mask_path(self, index: int) -> Path | None:
        """Item `index`'s shoe-mask file (`shoekit.data.masks`), or None when it has none."""
        column = self.rows[MASK_COLUMN].iat[index] if MASK_COLUMN in self.rows.columns else None
        path = mask_file(self.root, self.rows["path"].iat[index], column)
        if path is not None and (why := escape_problem(path, self.folder)):
            raise ImageError(f"{self.row_name(index)}: {why}")
        return path

    def load_mask(self, index: int) -> np.ndarray | None:
        """Item `index`'s shoe mask as (H, W) float32 in [0, 1], the size of `load(index)` and
        aligned with it; None when the row has no mask. ImageError naming the row when the mask is
        unreadable or not its crop's size."""
        path = self.mask_path(index)
        if path is None:
            return None
        with Image.open(self.image_path(index)) as crop:
            size = crop.size
        mask = read_mask(path, size, self.row_name(index))
        toe_x, toe_y, heel_x, heel_y = self.keypoints[index]
        if self.align and not np.isnan(self.keypoints[index]).any():
            mask = align_toe_heel(mask, (toe_x, toe_y), (heel_x, heel_y), fill=0.0)
        return mask

    def row_name(self, index: int) -> str:
        """"DATA/manifest.csv row R (line L)" of item `index`, for messages."""
        return row_label(self.root / "manifest.csv", int(self.rows["row"].iat[index]))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        image = self.cached[index] if self.cached is not None else self.load(index)
        return self.transform(image), self.labels[index], index

