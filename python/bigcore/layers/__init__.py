"""Keras layers on native kernels.

One module per family; each class registers itself (layers/registry.py) where it is defined, and
this package imports every module, so every layer is findable by name once bigcore is imported.
The int8 and sparse layers (quantized.py, quantized_recurrent.py, sparse.py) are made by
bigcore.quantization and bigcore.sparse_select, which re-export them, and load back by name.
"""

from bigcore.layers import quantized, quantized_attention, quantized_conv, quantized_recurrent, sparse  # noqa: F401  (registers their classes)
from bigcore.layers import tracing  # noqa: F401  (installs the tracer of custom layers' call())
from bigcore.layers.activations import ELU, LeakyReLU, PReLU, ReLU, Softmax
from bigcore.layers.attention import Attention, GroupedQueryAttention, GroupQueryAttention, MultiHeadAttention
from bigcore.layers.additive_attention import AdditiveAttention
from bigcore.layers.input_spec import InputSpec
from bigcore.layers.registry import deserialize, serialize
from bigcore.layers.base import KerasTensor, Layer, Weight
from bigcore.layers.conv_variants import (Conv1DTranspose, Conv2DTranspose, Conv3DTranspose, DepthwiseConv1D,
                                          DepthwiseConv2D, SeparableConv1D, SeparableConv2D)
from bigcore.layers.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from bigcore.layers.adaptive_pooling import (AdaptiveAveragePooling1D, AdaptiveAveragePooling2D,
                                             AdaptiveAveragePooling3D, AdaptiveMaxPooling1D, AdaptiveMaxPooling2D,
                                             AdaptiveMaxPooling3D)
from bigcore.layers.convolutional import Conv1D, Conv2D, Conv3D
from bigcore.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from bigcore.layers.einsum_dense import EinsumDense
from bigcore.layers.embedding import Embedding
from bigcore.layers.reversible_embedding import ReversibleEmbedding
from bigcore.layers.global_pooling import GlobalAveragePooling1D, GlobalMaxPooling1D
from bigcore.layers.identity import ActivityRegularization, Identity
from bigcore.layers.image_augmentation import (RandomBrightness, RandomContrast, RandomCrop, RandomFlip, RandomRotation,
                                               RandomShear, RandomTranslation, RandomZoom)
from bigcore.layers.image_color_augmentation import (AutoContrast, RandomColorDegeneration, RandomColorJitter,
                                                     RandomGrayscale, RandomHue, RandomInvert, RandomPosterization,
                                                     RandomSaturation, Solarization)
from bigcore.layers.image_composed_augmentation import (Equalization, RandomErasing, RandomGaussianBlur,
                                                        RandomElasticTransform, RandomPerspective, RandomSharpness)
from bigcore.layers.image_cutmix import CutMix
from bigcore.layers.image_mixing import MixUp
from bigcore.layers.image_rand_augment import AugMix, RandAugment
from bigcore.layers.image_resizing import CenterCrop, Resizing
from bigcore.layers.lambda_layer import Lambda
from bigcore.layers.pipeline import Pipeline
from bigcore.layers.layer_normalization import LayerNormalization, RMSNormalization
from bigcore.layers.masking import Masking
from bigcore.layers.mel_spectrogram import MelSpectrogram
from bigcore.layers.merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average,
                                    concatenate, dot, maximum, minimum, multiply, subtract)
from bigcore.layers.noise import (AlphaDropout, GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D,
                                  SpatialDropout3D)
from bigcore.layers.normalization import BatchNormalization, GroupNormalization, UnitNormalization
from bigcore.layers.pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D, GlobalAveragePooling2D,
                                    GlobalAveragePooling3D, GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPooling1D,
                                    MaxPooling2D, MaxPooling3D)
from bigcore.layers.preprocessing import (CategoryEncoding, Discretization, HashedCrossing, Hashing, IntegerLookup,
                                          Normalization, Rescaling, StringLookup, TextVectorization)
from bigcore.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from bigcore.layers.rnn_cells import RNN, GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from bigcore.layers.registry import get_class, register
from bigcore.layers.reshaping import (Cropping1D, Cropping2D, Cropping3D, Permute, RepeatVector, UpSampling1D,
                                      UpSampling2D, UpSampling3D, ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)
from bigcore.layers.spectral_normalization import SpectralNormalization
from bigcore.layers.stft_spectrogram import STFTSpectrogram
from bigcore.layers.wrapper import Wrapper
from bigcore.layers.wrappers import TimeDistributed

# Keras's aliases
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Convolution1DTranspose, Convolution2DTranspose, Convolution3DTranspose = (Conv1DTranspose, Conv2DTranspose,
                                                                          Conv3DTranspose)
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D = MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
MaxPool3D, AvgPool3D, GlobalAvgPool3D, GlobalMaxPool3D = (MaxPooling3D, AveragePooling3D, GlobalAveragePooling3D,
                                                          GlobalMaxPooling3D)

__all__ = sorted(["Wrapper", "Activation", "ActivityRegularization", "Add", "AdditiveAttention", "InputSpec", "deserialize", "serialize", "AlphaDropout", "Attention", "AvgPool1D", "AvgPool2D", "AveragePooling1D",
                  "AveragePooling2D", "Average", "BatchNormalization", "Bidirectional", "CategoryEncoding", "CenterCrop",
                  "Concatenate", "Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose", "Convolution1D",
                  "Convolution2D", "Convolution2DTranspose", "Cropping1D", "Cropping2D", "Dense", "DepthwiseConv1D",
                  "DepthwiseConv2D", "Discretization", "Dropout", "ELU", "EinsumDense", "Embedding", "ReversibleEmbedding", "STFTSpectrogram", "MelSpectrogram", "Flatten", "GRU",
                  "GaussianDropout", "GaussianNoise", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
                  "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPooling1D",
                  "GlobalMaxPooling2D", "GroupNormalization", "GroupQueryAttention", "GroupedQueryAttention",
                  "GRUCell", "HashedCrossing", "Hashing", "Identity", "Input", "InputLayer", "IntegerLookup", "KerasTensor", "LSTM", "LSTMCell", "Lambda", "Layer",
                  "LayerNormalization", "LeakyReLU", "Masking", "MaxPool1D", "MaxPool2D", "MaxPooling1D",
                  "MaxPooling2D", "MultiHeadAttention", "Multiply", "Normalization", "PReLU", "Permute",
                  "RMSNormalization", "RNN", "RandomBrightness", "RandomContrast", "RandomCrop", "RandomFlip",
                  "AutoContrast", "RandomColorDegeneration", "RandomColorJitter", "RandomGrayscale", "RandomHue",
                  "RandomInvert", "RandomPosterization", "RandomSaturation", "Solarization", "RandomShear", "MixUp", "Pipeline",
                  "RandomErasing", "RandomGaussianBlur", "RandomSharpness", "Equalization", "CutMix", "RandAugment",
                  "AugMix", "RandomPerspective", "RandomElasticTransform",
                  "RandomRotation", "RandomTranslation", "RandomZoom", "ReLU", "RepeatVector", "Rescaling", "Reshape",
                  "Resizing", "SeparableConv1D", "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D",
                  "SimpleRNN", "SimpleRNNCell", "Softmax", "SpatialDropout1D", "SpatialDropout2D", "StackedRNNCells",
                  "StringLookup", "TextVectorization", "TimeDistributed",
                  "UnitNormalization", "UpSampling1D", "UpSampling2D", "Weight", "ZeroPadding1D", "ZeroPadding2D",
                  "get_class", "register", "Dot", "Maximum", "Minimum", "Subtract", "add", "average", "concatenate", "dot",
                  "maximum", "minimum", "multiply", "subtract",
                  "Conv3D", "Convolution3D", "MaxPooling3D", "MaxPool3D", "AveragePooling3D", "AvgPool3D",
                  "GlobalAveragePooling3D", "GlobalAvgPool3D", "GlobalMaxPooling3D", "GlobalMaxPool3D", "UpSampling3D",
                  "ZeroPadding3D", "Cropping3D", "SpatialDropout3D", "Conv3DTranspose", "Convolution1DTranspose",
                  "Convolution3DTranspose", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"])
