"""keras.applications: the ImageNet architectures with Keras's layer names and weights, built
randomly initialized (weights=None), from Keras's pretrained files (weights="imagenet": Keras's
cache ~/.keras/models, else downloaded as Keras does) or from a weights file's path."""

from bigcore.applications import (convnext, densenet, efficientnet, efficientnet_v2,
                                  imagenet_utils, inception_resnet_v2, inception_v3,
                                  mobilenet, mobilenet_v2, mobilenet_v3, nasnet, resnet, resnet50, resnet_v2, vgg16, vgg19,
                                  xception)
from bigcore.applications.convnext import (ConvNeXtBase, ConvNeXtLarge, ConvNeXtSmall, ConvNeXtTiny,
                                           ConvNeXtXLarge)
from bigcore.applications.densenet import DenseNet121, DenseNet169, DenseNet201
from bigcore.applications.efficientnet import (EfficientNetB0, EfficientNetB1, EfficientNetB2, EfficientNetB3,
                                               EfficientNetB4, EfficientNetB5, EfficientNetB6, EfficientNetB7)
from bigcore.applications.efficientnet_v2 import (EfficientNetV2B0, EfficientNetV2B1, EfficientNetV2B2,
                                                  EfficientNetV2B3, EfficientNetV2L, EfficientNetV2M,
                                                  EfficientNetV2S)
from bigcore.applications.inception_resnet_v2 import InceptionResNetV2
from bigcore.applications.inception_v3 import InceptionV3
from bigcore.applications.mobilenet import MobileNet
from bigcore.applications.mobilenet_v2 import MobileNetV2
from bigcore.applications.mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from bigcore.applications.nasnet import NASNetLarge, NASNetMobile
from bigcore.applications.resnet import ResNet50, ResNet101, ResNet152
from bigcore.applications.resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2
from bigcore.applications.vgg16 import VGG16
from bigcore.applications.vgg19 import VGG19
from bigcore.applications.xception import Xception

__all__ = ["ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge", "DenseNet121",
           "DenseNet169", "DenseNet201", "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3",
           "EfficientNetB4", "EfficientNetB5", "EfficientNetB6", "EfficientNetB7", "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2",
           "EfficientNetV2B3", "EfficientNetV2L", "EfficientNetV2M", "EfficientNetV2S", "InceptionResNetV2", "InceptionV3", "MobileNet", "MobileNetV2", "MobileNetV3Large", "MobileNetV3Small", "NASNetLarge", "NASNetMobile",
           "ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2", "VGG16", "VGG19",
           "Xception", "convnext", "densenet", "efficientnet", "efficientnet_v2", "imagenet_utils", "inception_resnet_v2", "inception_v3", "mobilenet", "mobilenet_v2", "mobilenet_v3", "nasnet",
           "resnet", "resnet50", "resnet_v2", "vgg16", "vgg19", "xception"]
