"""`keras.preprocessing.image`: the image-file helpers Keras 3 exports there (defined in
bigcore.utils.image_utils)."""

from bigcore.utils.image_utils import array_to_img, img_to_array, load_img, save_img, smart_resize

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img", "smart_resize"]
