"""Saving and loading models: a `.bigcore` file is a zip of JSON and safetensors, never a pickle.

    config.json                 {"format": "bigcore", "format_version": 1 or 2, "class_name", "config",
                                 "compile_config", "training_state"}
    model.weights.safetensors   model.weights in order, keyed "%04d:<weight path>", float32 (int8
                                for quantized kernels); from format_version 2 a tensor with many
                                zeros (a pruned kernel) is stored as a bitmask or CSR layout of its
                                non-zero values when that is smaller (storage.py)
    optimizer.safetensors       the native optimizer slots ("slot_%d", one arena each), present
                                when the model is compiled and its program exists

A package above saving keeps its own state in config.json through a saving-state hook
(register_state): a model saved while pruning (bigcore.compression) carries "pruning", each pruned
layer's schedule; its masks come back from the zero pattern of the weights.

With the optimizer slots and iterations, the seed and the random streams (shuffle, dropout),
training resumed from a file continues bit for bit as if it had never stopped.

Writes are atomic: the file is written under a temporary name in the same directory, synced and
renamed over the target, so a crash mid-save leaves the previous file intact. Loading reads only
the known members, checks every declared size against a bound before reading, and turns any
defect into a ValueError that names the file and what is wrong.

    api.py           the functions below and the saving-state hooks
    model_state.py   what is saved of a model besides its config, and how it is restored
    archive.py       the container: atomic writes, the hardened reader
    storage.py       how one weight tensor is stored: dense, bitmask or CSR

Keras's files go through the same functions, chosen by suffix: `.keras` archives and `.weights.h5`
both ways, legacy Keras 2 `.h5` model files read (keras_files.py; config.json in keras_config.py,
the variable layout in keras_weights.py, HDF5 through h5py in keras_h5.py).
"""

from bigcore.saving import storage
from bigcore.saving.api import (CustomObjectScope, custom_object_scope, get_custom_objects, get_registered_name,
                                get_registered_object, load_model, load_weights, model_from_json, model_to_json,
                                register_keras_serializable, register_state, restore_state, save_model,
                                save_weights)
from bigcore.saving.archive import (CONFIG, FORMAT, FORMAT_VERSION, MODEL_SUFFIX, OPTIMIZER, WEIGHTS,
                                    WEIGHTS_SUFFIX)
from bigcore.saving.objects import deserialize_keras_object, serialize_keras_object

__all__ = ["CONFIG", "FORMAT", "FORMAT_VERSION", "MODEL_SUFFIX", "OPTIMIZER", "WEIGHTS", "WEIGHTS_SUFFIX",
           "CustomObjectScope", "custom_object_scope", "deserialize_keras_object", "get_custom_objects", "get_registered_name", "get_registered_object", "load_model", "load_weights", "model_from_json",
           "model_to_json", "register_keras_serializable", "register_state", "restore_state", "save_model", "save_weights", "serialize_keras_object", "storage"]
