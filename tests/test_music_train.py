import math

import pytest

from tfdl.music.train import MusicConfig, learning_rate


def test_cosine_schedule_decays_to_one_percent_by_the_last_step():
    schedule = learning_rate(MusicConfig(steps=100, learning_rate=1e-2, lr_schedule="cosine"))
    assert float(schedule(0)) == pytest.approx(1e-2)
    # halfway down the cosine: 1 % floor + 99 % of half the start
    assert float(schedule(50)) == pytest.approx(1e-2 * (0.01 + 0.99 * 0.5))
    assert float(schedule(100)) == pytest.approx(1e-4)
    assert float(schedule(400)) == pytest.approx(1e-4)  # stays at the floor after the end


def test_constant_schedule_is_the_plain_rate():
    assert learning_rate(MusicConfig(learning_rate=3e-3)) == 3e-3


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"lr_schedule": "linear"}, "lr_schedule must be one of constant, cosine, got 'linear'"),
        ({"dropout": -0.1}, r"dropout must be in \[0, 1\), got -0.1"),
        ({"dropout": math.nan}, r"dropout must be in \[0, 1\), got nan"),
    ],
)
def test_bad_settings_are_refused_with_their_value(fields, message):
    with pytest.raises(ValueError, match=message):
        MusicConfig(**fields)
