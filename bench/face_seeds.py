"""The colour-photo face test's numbers over several seeds: what its thresholds rest on.

    python bench/face_seeds.py [--seeds 0 1 2 3 4] [--epochs 4]

For each model (CNN, DB-VAE) and seed it trains as tests/test_faces.py does (grey
offline faces, 4 epochs, 8 filters), then prints the mean P(face) on 20 colour face
crops and on 20 colour not-face crops, the share of faces above 0.5, and the
evaluation's per-group means. Prints one JSON line per run and a summary per model.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_faces import colour_photos  # noqa: E402  (the test's own photos)

from tfdl.faces import FacesConfig, data, load_faces_model, train_faces  # noqa: E402
from tfdl.faces.train import face_probabilities  # noqa: E402

MODELS = {
    "cnn": dict(model="cnn", n_filters=8),
    "dbvae": dict(model="dbvae", n_filters=8, latent_dim=16),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    args = parser.parse_args()
    offline = data.load_skimage_faces()
    faces, not_faces = colour_photos()
    rows = []
    for name in args.models:
        for seed in args.seeds:
            config = FacesConfig(**MODELS[name], epochs=args.epochs, seed=seed)
            with tempfile.TemporaryDirectory() as tmp:
                train_faces(config, Path(tmp) / "m", offline, tracking="off", progress=False)
                model, _ = load_faces_model(Path(tmp) / "m")
            p_face = face_probabilities(model, data.in_colour(faces, "grey"))
            p_not = face_probabilities(model, data.in_colour(not_faces, "grey"))
            row = {
                "model": name,
                "seed": seed,
                "mean_p_faces": round(float(np.mean(p_face)), 3),
                "mean_p_not_faces": round(float(np.mean(p_not)), 3),
                "faces_above_half": round(float(np.mean(p_face > 0.5)), 3),
                "not_faces_above_half": round(float(np.mean(p_not > 0.5)), 3),
            }
            row["gap"] = round(row["mean_p_faces"] - row["mean_p_not_faces"], 3)
            print(json.dumps(row), flush=True)
            rows.append(row)
    for name in args.models:
        mine = [r for r in rows if r["model"] == name]
        for key in ("mean_p_faces", "mean_p_not_faces", "faces_above_half", "gap"):
            values = [r[key] for r in mine]
            print(f"{name:6s} {key:18s} min {min(values):.3f}  max {max(values):.3f}")


if __name__ == "__main__":
    main()
