import math

import numpy as np
import pytest
from scipy import stats

from kreg.lab.spread import mean_std, paired_difference


def test_mean_std_is_the_sample_deviation():
    values = [0.51, 0.53, 0.56]
    assert mean_std(values) == pytest.approx((np.mean(values), np.std(values, ddof=1)))
    mean, std = mean_std([0.5])
    assert mean == 0.5 and math.isnan(std)
    with pytest.raises(ValueError, match="must not be empty"):
        mean_std([])


def test_paired_difference_matches_scipy_t_interval():
    a, b = [0.55, 0.57, 0.52, 0.58], [0.53, 0.54, 0.52, 0.55]
    result = paired_difference(a, b)
    d = np.subtract(a, b)
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert result.mean == pytest.approx(d.mean())
    assert result.interval == pytest.approx((low, high))
    # Pairing matters: the same numbers unpaired would give a wider interval.
    unpaired = stats.ttest_ind(a, b).pvalue
    paired = stats.ttest_rel(a, b).pvalue
    assert paired < unpaired
    assert result.to_json()["pairs"] == 4


def test_one_pair_has_no_interval_and_bad_input_is_refused():
    result = paired_difference([0.5], [0.4])
    assert result.mean == pytest.approx(0.1) and result.to_json()["ci_low"] is None
    with pytest.raises(ValueError, match="must pair up; got 2 and 1"):
        paired_difference([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="Received: confidence=1.5"):
        paired_difference([0.1], [0.2], confidence=1.5)
