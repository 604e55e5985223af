"""Keras layers on native kernels.

One module per family; each class registers itself (layers/registry.py) where it is defined, and
this package imports every module, so every layer is findable by name once bigcore is imported.
The int8 and sparse layers (quantized.py, quantized_recurrent.py, sparse.py) are made by
bigcore.quantization and bigcore.sparse_select, which re-export them, and load back by name.
"""

from bigcore.layers import quantized, quantized_conv, quantized_recurrent, sparse  # noqa: F401  (registers their classes)
from bigcore.layers.activations import ELU, PReLU, ReLU, LeakyReLU, Softmax
from bigcore.layers.base import KerasTensor, Layer, Weight
from bigcore.layers.conv_variants import (Conv1DTranspose, Conv2DTranspose, DepthwiseConv1D, DepthwiseConv2D,
                                          SeparableConv1D, SeparableConv2D)
from bigcore.layers.convolutional import Conv1D, Conv2D
from bigcore.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from bigcore.layers.embedding import Embedding
from bigcore.layers.identity import Identity
from bigcore.layers.masking import Masking
from bigcore.layers.merging import Add, Average, Concatenate, Multiply
from bigcore.layers.noise import AlphaDropout, GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D
from bigcore.layers.normalization import BatchNormalization, GroupNormalization, LayerNormalization, UnitNormalization
from bigcore.layers.pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                                    GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D)
from bigcore.layers.preprocessing import (CategoryEncoding, Discretization, Hashing, IntegerLookup, Normalization,
                                          Rescaling, StringLookup, TextVectorization)
from bigcore.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from bigcore.layers.registry import get_class, register
from bigcore.layers.reshaping import (Cropping1D, Cropping2D, Permute, RepeatVector, UpSampling1D, UpSampling2D,
                                      ZeroPadding1D, ZeroPadding2D)
from bigcore.layers.wrappers import TimeDistributed

__all__ = ["Activation", "Add", "Average", "Bidirectional", "CategoryEncoding", "Concatenate", "Dense",
           "Discretization", "Dropout", "Embedding", "Flatten", "GRU", "Hashing", "Input", "InputLayer", "IntegerLookup",
           "KerasTensor", "LSTM", "Layer", "Multiply", "Normalization", "Rescaling", "Reshape", "StringLookup",
           "TextVectorization", "Weight", "get_class", "register"]

# ConvNets and the everyday Keras layer set (with Keras's aliases)
Convolution1D, Convolution2D = Conv1D, Conv2D
MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D = MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
__all__ += ["AvgPool1D", "AvgPool2D", "AveragePooling1D", "AveragePooling2D", "BatchNormalization", "Conv1D",
            "Conv2D", "Convolution1D", "Convolution2D", "ELU", "GlobalAvgPool1D", "GlobalAvgPool2D",
            "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPool1D", "GlobalMaxPool2D",
            "GlobalMaxPooling1D", "GlobalMaxPooling2D", "LeakyReLU", "MaxPool1D", "MaxPool2D", "MaxPooling1D",
            "MaxPooling2D", "PReLU", "ReLU", "Softmax",
            "AlphaDropout", "Cropping1D", "Cropping2D", "GaussianDropout", "GaussianNoise", "GroupNormalization",
            "LayerNormalization", "Masking", "Permute", "RepeatVector", "SpatialDropout1D", "SpatialDropout2D",
            "TimeDistributed", "UnitNormalization", "UpSampling1D", "UpSampling2D", "ZeroPadding1D", "ZeroPadding2D",
            "Conv1DTranspose", "Conv2DTranspose", "Convolution2DTranspose", "DepthwiseConv1D", "DepthwiseConv2D",
            "SeparableConv1D", "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D"]
__all__ += ["Identity", "SimpleRNN"]
Convolution2DTranspose = Conv2DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
