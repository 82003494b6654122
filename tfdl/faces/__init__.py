"""Lab 2 part 2, face detection and debiasing: data, the CNN and the DB-VAE, losses, training.

- `tfdl.faces.data`: the lab's face h5 (read lazily), scikit-image's offline faces,
  test-face groups;
- `tfdl.faces.models`: `FaceCNN` and `DBVAE`;
- `tfdl.faces.losses`: the lab's losses and the trainer's loss functions;
- `tfdl.faces.train`: adaptive resampling, `train_faces`, `evaluate_saved`
  (``tfdl faces train|evaluate``);
- `tfdl.faces.cli`: those two commands.
"""

from tfdl.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Faces": "tfdl.faces.data",
        "load_faces": "tfdl.faces.data",
        "load_test_faces": "tfdl.faces.data",
        "DBVAE": "tfdl.faces.models",
        "FaceCNN": "tfdl.faces.models",
        "FacesConfig": "tfdl.faces.config",
        **dict.fromkeys(
            ["build_model", "evaluate_saved", "face_probabilities", "group_probabilities",
             "held_out_accuracy", "latent_means", "load_faces_model", "sample_probabilities",
             "train_faces"],
            "tfdl.faces.train",
        ),
    },
)  # fmt: skip
