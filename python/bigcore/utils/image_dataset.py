"""image_dataset_from_directory: a folder of images, one sub-folder per class, as a Dataset of
(images, labels) batches (keras.utils.image_dataset_from_directory)."""

import numpy as np

from bigcore.layers.image_resizing import crop_box, pad_box
from bigcore.utils.directory_dataset import check_arguments, directory_datasets
from bigcore.utils.image_utils import (
    box_resize,
    check_resize_interpolation,
    convert_mode,
    pil_image,
    standardize_data_format,
)

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
# the names Keras takes; bigcore computes RESIZE_INTERPOLATIONS of them (image_utils)
KERAS_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic")
CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}


def load_image(path, color_mode, image_size, interpolation, data_format, crop_to_aspect_ratio, pad_to_aspect_ratio):
    """One file as a float32 (height, width, channels) array (channels first: (C, H, W)), 0..255
    for 8-bit images, decoded and converted by Pillow (a GIF's first frame) and resized as Keras's
    ops.image.resize: crop_to_aspect_ratio first crops the largest centred box of the target's
    aspect, pad_to_aspect_ratio first pads it with zeros to that aspect."""
    with pil_image().open(path) as img:
        x = np.asarray(convert_mode(img, color_mode), dtype=np.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    H, W = x.shape[:2]
    h, w = image_size
    if crop_to_aspect_ratio:
        box = crop_box(H, W, h, w)
    elif pad_to_aspect_ratio:
        box = pad_box(H, W, h, w)
    else:
        box = [0, 0, H, W]
    out = box_resize(x[None], image_size, box, interpolation)[0]
    return out.transpose(2, 0, 1) if data_format == "channels_first" else out


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, color_mode="rgb",
                                 batch_size=32, image_size=(256, 256), shuffle=True, seed=None, validation_split=None,
                                 subset=None, interpolation="bilinear", follow_links=False, crop_to_aspect_ratio=False,
                                 pad_to_aspect_ratio=False, data_format=None, format="tf", verbose=True):
    """A Dataset of (images, labels) batches from the .bmp/.gif/.jpeg/.jpg/.png files under
    `directory`: images float32 (batch, height, width, channels) with 1, 3 or 4 channels by
    color_mode; labels int32 (label_mode "int"), float32 (batch, 1) ("binary") or one-hot float32
    ("categorical"); label_mode=None or labels=None yields images alone; batch_size=None yields
    single images. subset="both" returns [training, validation]. The files are read when their
    batch is asked for; the result carries .class_names and .file_paths."""
    labels, label_mode = check_arguments(labels, label_mode, class_names, batch_size, validation_split, subset,
                                         shuffle, seed, format, "image files")
    if color_mode not in CHANNELS:
        raise ValueError(f'`color_mode` must be one of {{"rgb", "rgba", "grayscale"}}. Received: color_mode={color_mode}')
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    elif not isinstance(image_size, (list, tuple)) or len(image_size) != 2:
        raise ValueError(f"Invalid `image_size` value. Expected a tuple of 2 integers. Received: image_size={image_size}")
    if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in image_size):
        raise ValueError(f"Invalid `image_size` value. Expected a tuple of 2 positive integers. "
                         f"Received: image_size={image_size}")
    image_size = (int(image_size[0]), int(image_size[1]))
    interpolation = check_resize_interpolation(str(interpolation).lower(), KERAS_INTERPOLATIONS)
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be set to `True`.")
    data_format = standardize_data_format(data_format)
    pil_image()  # without Pillow, fail here rather than at the first batch

    def read(path):
        return load_image(path, color_mode, image_size, interpolation, data_format, crop_to_aspect_ratio,
                          pad_to_aspect_ratio)

    return directory_datasets(directory, labels, label_mode, class_names, ALLOWLIST_FORMATS, batch_size, shuffle,
                              seed, validation_split, subset, follow_links, verbose, read=read, collate=np.stack,
                              what="images")
