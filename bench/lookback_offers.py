"""How often `BarLookback` makes each offer on the shipped corpus, and how often it is right.

    python bench/lookback_offers.py

Reads the corpus with the layer itself (`text_offers`, the reading training uses) and
prints one JSON line: for each offer (phrase, match, part), the fraction of characters
for which it offers something, and of those the fraction where the offer is the next
character. "any" is a character for which at least one offer is right.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from tfdl.music import abc  # noqa: E402
from tfdl.music.dataset import join_tunes  # noqa: E402
from tfdl.music.lookback import BarLookback, lookback_for, text_offers  # noqa: E402
from tfdl.music.vocab import Vocabulary  # noqa: E402


def main():
    text = join_tunes(abc.load_corpus())
    vocab = Vocabulary.from_text(text)
    ids = vocab.encode(text)
    layer = BarLookback(**lookback_for(vocab))
    offers = text_offers(layer, ids)[:-1]  # offers after character t, for character t + 1
    following = ids[1:] + 1  # codes: id + 1
    result = {"characters": int(len(following))}
    right_any = np.zeros(len(following), bool)
    for column, name in enumerate(("phrase", "match", "part")):
        offered = offers[:, column] > 0
        right = offered & (offers[:, column] == following)
        right_any |= right
        result[name] = {
            "offered": round(float(offered.mean()), 3),
            "right_when_offered": round(float(right.sum() / max(offered.sum(), 1)), 3),
        }
    result["any_right"] = round(float(right_any.mean()), 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
