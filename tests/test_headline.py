"""Headline numbers: % cut and data-efficiency factor from the learning curves (pure arithmetic on
runs.csv rows, checked against hand-computed values)."""

import math

import pandas as pd
import pytest

from synpre.headline import headline_table, matching_n


def test_matching_n_interpolates_on_log_log_axes():
    # direct error falls as N^-1: 100 at N=10, 10 at N=100; error 31.6 is reached at N = 10^1.5
    n, bound = matching_n([(10, 100.0), (100, 10.0)], 10 ** 1.5)
    assert bound == "=" and n == pytest.approx(10 ** 1.5, rel=1e-9)
    assert matching_n([(10, 100.0), (100, 10.0)], 5.0) == (100, ">=")    # below the curve: lower bound
    assert matching_n([(10, 100.0), (100, 10.0)], 200.0) == (10, "<=")   # above it: upper bound


def test_headline_table_cut_and_factor():
    rows = []
    for seed, noise in ((0, -1.0), (1, 1.0)):
        for n, e in ((10, 100.0), (100, 10.0)):
            rows.append(dict(teacher="direct", strategy="scratch", n_synth=0, n_real=n, seed=seed,
                             energy_rmse_meV_per_atom=e + noise, forces_rmse_eV_per_A=1.0))
        rows.append(dict(teacher="gap", strategy="full", n_synth=800, n_real=10, seed=seed,
                         energy_rmse_meV_per_atom=10 ** 1.5 + noise, forces_rmse_eV_per_A=0.5))
    table = headline_table(pd.DataFrame(rows))
    e = table[(table["metric"] == "energy")].iloc[0]
    assert e["cut_percent"] == pytest.approx(100 * (1 - 10 ** 1.5 / 100))   # means over seeds
    assert e["efficiency_factor"] == pytest.approx(10 ** 1.5 / 10) and e["bound"] == "="
    f = table[(table["metric"] == "forces")].iloc[0]
    assert f["cut_percent"] == pytest.approx(50.0) and f["bound"] == ">=" and f["efficiency_factor"] == 10
    assert not math.isnan(e["direct"])
