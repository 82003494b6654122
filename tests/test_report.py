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


def test_copies_of_the_tunes_a_run_added_count_as_memorised():
    from tfdl.music import abc
    from tfdl.music.rebar import join_bars
    from tfdl.music.report import learnt_tunes, song_report
    from tfdl.music.transpose import transpose_tune

    jigs = [t for t in abc.load_corpus() if "\nM:6/8\n" in t and join_bars(t)][:30]
    slide, moved = join_bars(jigs[0]), transpose_tune(jigs[1], "A")
    assert moved is not None and moved != jigs[1]
    plain = song_report([slide, moved], jigs)
    assert plain["memorised"] == 0  # neither text is a training tune's
    learnt = learnt_tunes({"slides": 1.0, "seed": 0, "transpose": True}, jigs)
    assert song_report([slide, moved], jigs, learnt=learnt)["memorised"] == 2
    assert learnt_tunes({"seed": 0}, jigs) == jigs
