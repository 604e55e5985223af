"""audio_dataset_from_directory: a folder of PCM WAV files, one sub-folder per class, as a Dataset of
(audio, labels) batches (keras.utils.audio_dataset_from_directory), read with Python's `wave`."""

import wave

import numpy as np

from bigcore.utils.directory_dataset import check_arguments, directory_datasets

ALLOWED_FORMATS = (".wav",)


def _open(path):
    try:
        return wave.open(path, "rb")
    except (wave.Error, EOFError) as e:
        raise ValueError(f"Could not read {path!r} as a PCM WAV file ({e}); audio_dataset_from_directory reads "
                         "uncompressed integer PCM (8, 16, 24 or 32 bits)") from None


def read_wav(path, output_sequence_length=None):
    """(samples, channels) float32 in [-1, 1), as tf.audio.decode_wav gives it: output_sequence_length
    truncates or pads with zeros. Returns (audio, sampling rate)."""
    with _open(path) as w:
        channels, width, rate, count = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        raw = w.readframes(count)
    if width == 1:  # 8-bit WAV is unsigned, centred on 128
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width in (2, 4):
        x = np.frombuffer(raw, f"<i{width}").astype(np.float64) / float(2 ** (8 * width - 1))
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 2 ** 23, v - 2 ** 24, v) / float(2 ** 23)
    else:
        raise ValueError(f"{path!r}: {8 * width}-bit samples are not supported (8, 16, 24 or 32-bit PCM)")
    audio = np.asarray(x, np.float32).reshape(-1, channels)
    if output_sequence_length is not None:
        n = output_sequence_length
        audio = audio[:n] if len(audio) >= n else np.pad(audio, [(0, n - len(audio)), (0, 0)])
    return audio, rate


def _collate(clips):
    """One batch: Keras's padded_batch, each clip zero-padded to the longest of the batch."""
    channels = {c.shape[1] for c in clips}
    if len(channels) > 1:
        raise ValueError(f"The audio files of one batch have different channel counts: {sorted(channels)}")
    longest = max(len(c) for c in clips)
    return np.stack([np.pad(c, [(0, longest - len(c)), (0, 0)]) for c in clips])


def audio_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, batch_size=32,
                                 sampling_rate=None, output_sequence_length=None, ragged=False, shuffle=True, seed=None,
                                 validation_split=None, subset=None, follow_links=False, verbose=True):
    """A Dataset of (audio, labels) batches from the .wav files under `directory`: audio float32
    (batch, samples, channels), each batch zero-padded to its longest clip, or cut / padded to
    output_sequence_length; labels as image/text_dataset_from_directory give them. sampling_rate
    checks every file's rate (bigcore does not resample); ragged=True is refused (no ragged tensors)."""
    if ragged and output_sequence_length is not None:
        raise ValueError("Cannot set both `ragged` and `output_sequence_length`")
    if ragged:
        raise NotImplementedError("audio_dataset_from_directory(ragged=True): bigcore has no ragged tensors. Expected "
                                  "ragged=False (batches zero-padded to their longest clip) or an "
                                  "output_sequence_length. Received: ragged=True")
    if sampling_rate is not None:
        if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, int):
            raise ValueError(f"`sampling_rate` should have an integer value. Received: sampling_rate={sampling_rate}")
        if sampling_rate <= 0:
            raise ValueError(f"`sampling_rate` should be higher than 0. Received: sampling_rate={sampling_rate}")
    if output_sequence_length is not None and (isinstance(output_sequence_length, bool) or not isinstance(
            output_sequence_length, int) or output_sequence_length < 1):
        raise ValueError("`output_sequence_length` should be a positive integer or None. Received: "
                         f"output_sequence_length={output_sequence_length!r}")
    labels, label_mode = check_arguments(labels, label_mode, class_names, batch_size, validation_split, subset,
                                         shuffle, seed, "tf", "audio files")

    def read(path):
        audio, rate = read_wav(path, output_sequence_length)
        _check_rate(path, rate, sampling_rate)
        return audio

    out = directory_datasets(directory, labels, label_mode, class_names, ALLOWED_FORMATS, batch_size, shuffle, seed,
                             validation_split, subset, follow_links, verbose, read=read, collate=_collate,
                             what="audio files")
    if sampling_rate is not None:  # every file's rate, checked now (headers only) rather than mid-epoch
        for ds in out if isinstance(out, list) else [out]:
            for path in ds.file_paths:
                with _open(path) as w:
                    _check_rate(path, w.getframerate(), sampling_rate)
    return out


def _check_rate(path, rate, sampling_rate):
    if sampling_rate is not None and rate != sampling_rate:
        raise NotImplementedError(f"{path!r} is sampled at {rate} Hz, but sampling_rate={sampling_rate}: bigcore does "
                                  "not resample (Keras uses tensorflow-io). Resample the files, or pass "
                                  "sampling_rate=None")
