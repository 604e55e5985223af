"""The names Keras scripts import from `keras.preprocessing` (and tf.keras's legacy helpers).

    image.py      load_img, img_to_array, array_to_img, save_img, smart_resize
    sequence.py   pad_sequences, skipgrams, make_sampling_table, TimeseriesGenerator
    text.py       Tokenizer, text_to_word_sequence, one_hot, hashing_trick, tokenizer_from_json

and, as in Keras, the dataset builders image_dataset_from_directory, timeseries_dataset_from_array
and text_dataset_from_directory (defined in bigcore.utils). The preprocessing *layers*
(TextVectorization, Normalization, ...) are in bigcore.layers.
"""

from bigcore.preprocessing import image, sequence, text
from bigcore.utils.image_dataset import image_dataset_from_directory
from bigcore.utils.text_dataset import text_dataset_from_directory
from bigcore.utils.timeseries import timeseries_dataset_from_array

__all__ = ["image", "image_dataset_from_directory", "sequence", "text", "text_dataset_from_directory",
           "timeseries_dataset_from_array"]
