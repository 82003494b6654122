"""Faces and not-faces for the debiasing lab, and folders of test faces by group.

`load_faces` returns a `Faces` split into train and held-out test indices:

1. ``path`` given: the lab's ``train_face.h5`` (datasets ``images``, uint8
   (N, 64, 64, 3) stored BGR, and ``labels`` (N, 1), 1 = face). Images are read
   lazily, one batch of sorted indices at a time, so a large file is never loaded whole.
2. Offline default: the 100 faces and 100 non-faces inside scikit-image
   (``skimage.data.lfw_subset()``, 25x25 grey) resized to 64x64x3, plus not-face
   crops from scikit-image's sample photos, made grey like the faces; training images
   get a fixed-seed augmentation (flips, shifts and crops, brightness).

Images come back float32 RGB in [0, 1], (n, 64, 64, 3); labels float32 (n,), 1 = face.

Colour: `Faces.colour` is ``"rgb"`` for the h5 file and ``"grey"`` for the offline
data, whose faces are all grey. A model learns the colour of its training data, so a
model trained on grey faces and colour not-faces calls every colour photo a not-face;
hence every offline image is grey, and a grey-trained model sees every image grey
(`in_colour`), in training, evaluation and on test faces.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfdl.errors import MissingFileError, UserError

IMAGE_SHAPE = (64, 64, 3)
H5 = "h5"
SKIMAGE = "skimage-lfw"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
RGB = "rgb"
GREY = "grey"
COLOURS = (RGB, GREY)
# The luma weights of skimage.color.rgb2gray (ITU-R BT.709); they sum to 1, so grey
# images stay in [0, 1].
_LUMA = np.array([0.2125, 0.7154, 0.0721], np.float32)

# scikit-image sample photos with no human face: sources of not-face crops.
# The first ones give training crops, the last ones held-out crops.
_NOT_FACE_TRAIN = ("coffee", "chelsea", "rocket", "brick", "grass", "gravel", "coins", "moon")
_NOT_FACE_TEST = ("clock", "hubble_deep_field", "page", "immunohistochemistry")


@dataclass
class Faces:
    """Face / not-face images with a fixed train / held-out split.

    Attributes:
        images: float32 array (n, 64, 64, 3) RGB in [0, 1], or an h5py dataset of
            uint8 BGR images (read lazily by `read`).
        labels: float32 (n,), 1 = face, 0 = not face.
        train_index, test_index: int arrays of indices into ``images``.
        source: ``"h5"`` or ``"skimage-lfw"``; path: the file read (or the package).
        colour: ``"rgb"``, or ``"grey"``: `read` returns grey images (the luma in all
            three channels), whatever the stored ones are.
    """

    images: object
    labels: np.ndarray
    train_index: np.ndarray
    test_index: np.ndarray
    source: str
    path: str
    colour: str = RGB

    @property
    def train_faces(self):
        return self.train_index[self.labels[self.train_index] == 1]

    @property
    def train_not_faces(self):
        return self.train_index[self.labels[self.train_index] != 1]

    def describe(self):
        what = {H5: "the lab's face h5 file", SKIMAGE: "scikit-image's LFW subset (offline)"}
        return (
            f"{what[self.source]} at {self.path}: {len(self.train_faces)} train faces, "
            f"{len(self.train_not_faces)} train not-faces, {len(self.test_index)} held out "
            f"({self.colour})"
        )

    def read(self, index):
        """float32 RGB images (len(index), 64, 64, 3) in [0, 1], in the order of ``index``
        (grey in all three channels when ``colour`` is ``"grey"``)."""
        index = np.asarray(index, dtype=np.int64)
        if isinstance(self.images, np.ndarray):
            return in_colour(self.images[index], self.colour)
        # h5py reads a strictly increasing index list: read sorted, then restore the order.
        order = np.argsort(index, kind="stable")
        unique, inverse = np.unique(index[order], return_inverse=True)
        raw = self.images[unique.tolist()][inverse]  # (n, 64, 64, 3) uint8 BGR
        out = np.empty((len(index), *IMAGE_SHAPE), np.float32)
        out[order] = raw[..., ::-1] / np.float32(255.0)  # BGR -> RGB, as the lab's loader
        return in_colour(out, self.colour)

    def batches(self, batch_size, rng, p_faces=None):
        """One epoch of balanced batches ``(images, labels)``, each read when it is
        reached: the batches of `epoch_batches`."""
        for index in self.epoch_batches(batch_size, rng, p_faces):
            yield self.read(index), self.labels[index]

    def epoch_batches(self, batch_size, rng, p_faces=None):
        """One epoch of balanced batches as indices, int (batches, batch_size): the lab's
        ``get_batch``, drawn without reading an image.

        Each batch holds ``batch_size // 2`` faces drawn with probabilities ``p_faces``
        (one per train face, None: uniform) and as many not-faces, each half drawn
        without replacement, sorted (one increasing read from an h5 file); an epoch
        has ``len(train_index) // batch_size`` batches.
        """
        faces, not_faces = self.train_faces, self.train_not_faces
        half = batch_size // 2
        if half < 1 or half > min(len(faces), len(not_faces)):
            raise UserError(
                f"batch size {batch_size} needs 1..{min(len(faces), len(not_faces))} faces and "
                "not-faces per half-batch"
            )
        if p_faces is not None:
            p_faces = np.asarray(p_faces, np.float64)
            if p_faces.shape != (len(faces),):
                raise UserError(
                    f"p_faces needs one probability per train face ({len(faces)}), "
                    f"got shape {p_faces.shape}"
                )
            p_faces = p_faces / p_faces.sum()
        batches = []
        for _ in range(max(1, len(self.train_index) // batch_size)):
            picked = np.concatenate(
                [
                    rng.choice(faces, half, replace=False, p=p_faces),
                    rng.choice(not_faces, half, replace=False),
                ]
            )
            batches.append(np.sort(picked))
        return np.stack(batches)


def in_colour(images, colour):
    """Float images (..., 64, 64, 3) as ``colour`` images: ``"grey"`` puts their luma
    (skimage's ``rgb2gray``) in all three channels, ``"rgb"`` leaves them as they are."""
    if colour not in COLOURS:
        raise UserError(f"unknown colour {colour!r}; choose one of {', '.join(COLOURS)}")
    if colour == RGB:
        return images
    grey = np.asarray(images, np.float32) @ _LUMA  # (..., 64, 64)
    return np.repeat(grey[..., None], 3, axis=-1)


def _split(labels, test_fraction, seed):
    """Stratified fixed-seed split of indices: (train, test)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for value in (0.0, 1.0):
        idx = rng.permutation(np.flatnonzero(labels == value))
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_face_h5(path, test_fraction=0.1, seed=0):
    """The lab's ``train_face.h5``, read lazily (the file stays open while `Faces` lives)."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no face data file at {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise UserError(f"cannot read {path} as HDF5: {e}") from None
    missing = [k for k in ("images", "labels") if k not in f]
    if missing:
        keys = ", ".join(sorted(f.keys())) or "nothing"
        f.close()
        raise UserError(f"{path} has no {' or '.join(missing)} dataset (it holds: {keys})")
    images, labels = f["images"], np.asarray(f["labels"][...]).reshape(-1).astype(np.float32)
    if images.ndim != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE:
        f.close()
        raise UserError(f"{path}: images must be (N, 64, 64, 3), got {tuple(images.shape)}")
    if images.dtype != np.uint8:
        f.close()
        raise UserError(f"{path}: images must be uint8 in 0..255, got {images.dtype}")
    if len(labels) != images.shape[0] or not np.isin(labels, (0.0, 1.0)).all():
        f.close()
        raise UserError(
            f"{path}: labels must be one 0 or 1 per image ({images.shape[0]}), got "
            f"{len(labels)} values in {sorted(set(np.unique(labels).tolist()))[:5]}"
        )
    if labels.sum() < 2 or (1 - labels).sum() < 2:
        f.close()
        raise UserError(f"{path}: needs at least 2 faces and 2 not-faces")
    train, test = _split(labels, test_fraction, seed)
    return Faces(images, labels, train, test, H5, str(path))


def _to_rgb64(image):
    """Any 2-D grey or RGB(A) image in [0, 1] -> float32 (64, 64, 3)."""
    from skimage.transform import resize

    image = np.asarray(image, np.float32)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    image = image[..., :3]
    return resize(image, IMAGE_SHAPE[:2], anti_aliasing=True).astype(np.float32)


def _augment(image, rng):
    """A flip, a small shift-and-crop (up to 6 px) and a brightness change, seeded by ``rng``."""
    if rng.random() < 0.5:
        image = image[:, ::-1]
    pad = 6
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    dy, dx = rng.integers(0, 2 * pad + 1, size=2)
    image = padded[dy : dy + 64, dx : dx + 64]
    return np.clip(image * rng.uniform(0.75, 1.25), 0.0, 1.0).astype(np.float32)


def _crops(names, n, rng):
    """``n`` random square crops (24..160 px) of scikit-image sample photos, at 64x64x3
    but only as sharp as the LFW faces (25x25): else sharpness alone tells them apart,
    and the model calls every sharp photo a not-face."""
    from skimage import data as skdata
    from skimage.transform import resize
    from skimage.util import img_as_float

    photos = [img_as_float(getattr(skdata, name)()) for name in names]
    out = []
    for i in range(n):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        side = int(rng.integers(24, min(160, h, w) + 1))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = resize(photo[y : y + side, x : x + side], (25, 25), anti_aliasing=True)
        out.append(_to_rgb64(crop))
    return out


def load_skimage_faces(test_fraction=0.2, copies=4, extra_not_faces=160, seed=0):
    """The offline default (see the module docstring), all in memory (~10 MB), grey.

    The held-out split is 20 % of the LFW faces and non-faces, unaugmented, plus
    crops of other photos than the training crops; every train image appears
    ``copies`` times (the original, then augmented copies).
    """
    from skimage import data as skdata

    lfw = skdata.lfw_subset()  # (200, 25, 25) in [0, 1]: 100 faces, then 100 non-faces
    lfw_labels = np.r_[np.ones(100), np.zeros(100)].astype(np.float32)
    train, test = _split(lfw_labels, test_fraction, seed)
    rng = np.random.default_rng(seed)
    base = [_to_rgb64(im) for im in lfw]
    images, labels, is_test = [], [], []
    for i in test:
        images.append(base[i])
        labels.append(lfw_labels[i])
        is_test.append(True)
    for i in train:
        for c in range(copies):
            images.append(base[i] if c == 0 else _augment(base[i], rng))
            labels.append(lfw_labels[i])
            is_test.append(False)
    n_test_crops = int(round(extra_not_faces * test_fraction))
    for crop, held_out in [(c, False) for c in _crops(_NOT_FACE_TRAIN, extra_not_faces, rng)] + [
        (c, True) for c in _crops(_NOT_FACE_TEST, n_test_crops, rng)
    ]:
        images.append(crop)
        labels.append(0.0)
        is_test.append(held_out)
    is_test = np.array(is_test)
    return Faces(
        in_colour(np.stack(images), GREY),  # the faces are grey: the not-faces must be too
        np.array(labels, np.float32),
        np.flatnonzero(~is_test),
        np.flatnonzero(is_test),
        SKIMAGE,
        "skimage.data.lfw_subset",
        GREY,
    )


def load_faces(path=None, seed=0):
    """`load_face_h5` when ``path`` is given, else `load_skimage_faces`."""
    if path is not None:
        return load_face_h5(path, seed=seed)
    return load_skimage_faces(seed=seed)


def check_images(images, what="images"):
    """A clear error unless ``images`` is float (n, 64, 64, 3) in [0, 1]."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE:
        raise UserError(f"{what} must be (n, 64, 64, 3), got shape {images.shape}")
    if images.size and (images.min() < 0 or images.max() > 1):
        raise UserError(
            f"{what} must be in [0, 1], got values in [{images.min():.3g}, {images.max():.3g}]"
        )
    return images.astype(np.float32)


def load_test_faces(directory):
    """``{group: float32 (n, 64, 64, 3)}`` from ``DIR/<group>/*.png`` (any image type, resized)."""
    from skimage.io import imread
    from skimage.util import img_as_float

    directory = Path(directory)
    if not directory.is_dir():
        raise MissingFileError(f"no test-face directory at {directory}")
    groups = {}
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UserError(f"test-face group folder {folder} holds no images")
        images = []
        for file in files:
            try:
                images.append(_to_rgb64(img_as_float(imread(file))))
            except Exception as e:  # imageio raises many types for a bad file
                raise UserError(f"cannot read test face {file}: {e}") from None
        groups[folder.name] = np.stack(images)
    if not groups:
        raise UserError(f"{directory} holds no group folders (expected DIR/<group>/*.png)")
    return groups
