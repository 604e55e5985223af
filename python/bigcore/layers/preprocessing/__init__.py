"""Preprocessing layers: they run in NumPy on the input side (base.py says how), learn their state
with adapt(), and are saved with the model.

    base.py                 InputSideLayer, the categorical encodings
    numeric.py              Normalization, Rescaling, CategoryEncoding, Discretization
    hashes.py, hashing.py   FarmHash Fingerprint64 and SipHash (TensorFlow's), Hashing
    hashed_crossing.py      HashedCrossing (TensorFlow's cross_hashed)
    lookup.py               StringLookup, IntegerLookup
    text_vectorization.py   TextVectorization
"""

from bigcore.layers.preprocessing.base import InputSideLayer
from bigcore.layers.preprocessing.hashed_crossing import HashedCrossing
from bigcore.layers.preprocessing.hashing import Hashing
from bigcore.layers.preprocessing.lookup import IntegerLookup, StringLookup
from bigcore.layers.preprocessing.numeric import CategoryEncoding, Discretization, Normalization, Rescaling
from bigcore.layers.preprocessing.text_vectorization import TextVectorization

__all__ = ["CategoryEncoding", "Discretization", "HashedCrossing", "Hashing", "InputSideLayer", "IntegerLookup", "Normalization",
           "Rescaling", "StringLookup", "TextVectorization"]
