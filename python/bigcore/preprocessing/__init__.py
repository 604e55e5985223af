"""The names Keras scripts import from `keras.preprocessing` (and tf.keras's legacy helpers).

    sequence.py   pad_sequences, skipgrams, make_sampling_table, TimeseriesGenerator
    text.py       Tokenizer, text_to_word_sequence, one_hot, hashing_trick, tokenizer_from_json

and, as in Keras, the dataset builders timeseries_dataset_from_array and
text_dataset_from_directory (defined in bigcore.utils). The preprocessing *layers*
(TextVectorization, Normalization, ...) are in bigcore.layers.
"""

from bigcore.preprocessing import sequence, text
from bigcore.utils.text_dataset import text_dataset_from_directory
from bigcore.utils.timeseries import timeseries_dataset_from_array

__all__ = ["sequence", "text", "text_dataset_from_directory", "timeseries_dataset_from_array"]
