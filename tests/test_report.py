import pytest
from scipy.stats import binomtest

from tfdl.music.report import wilson_interval


@pytest.mark.parametrize("successes, trials", [(96, 100), (468, 500), (0, 3), (3, 3), (1, 1)])
def test_wilson_interval_matches_scipy(successes, trials):
    reference = binomtest(successes, trials).proportion_ci(0.95, method="wilson")
    low, high = wilson_interval(successes, trials)
    assert (low, high) == pytest.approx((reference.low, reference.high), abs=1e-4)
    assert low <= successes / trials <= high


def test_wilson_interval_narrows_with_more_songs():
    small, large = wilson_interval(95, 100), wilson_interval(950, 1000)
    assert small[0] < large[0] < 0.95 < large[1] < small[1]


@pytest.mark.parametrize("successes, trials", [(1, 0), (-1, 5), (6, 5)])
def test_wilson_interval_rejects_impossible_counts(successes, trials):
    with pytest.raises(ValueError, match=f"got {successes}/{trials}"):
        wilson_interval(successes, trials)
