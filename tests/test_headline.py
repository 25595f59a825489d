"""Headline numbers: % cut and data-efficiency factor from the learning curves (pure arithmetic on
runs.csv rows, checked against hand-computed values)."""

import json
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


def test_interval_is_the_student_t_interval_of_the_mean():
    from synpre.aggregate import cell, interval95

    mean, std, lo, hi = interval95([1.0, 2.0, 3.0])
    half = 4.302652729911275 * 1.0 / 3 ** 0.5  # t(0.975, 2) * s / sqrt(n)
    assert (mean, std) == (2.0, 1.0) and lo == pytest.approx(2 - half) and hi == pytest.approx(2 + half)
    assert cell([1.0, 2.0, 3.0], 1) == f"2.0 ± 1.0 [{2 - half:.1f}, {2 + half:.1f}]"
    assert cell([5.0], 1) == "5.0"  # one seed: no spread to report


def test_no_negative_transfer_check_and_per_config_type_rows():
    rows = []
    for seed, noise in ((0, -1.0), (1, 1.0)):
        rows.append({"teacher": "direct", "strategy": "scratch", "n_synth": 0, "n_real": 100, "seed": seed,
                     "energy_rmse_meV_per_atom": 50 + noise, "forces_rmse_eV_per_A": 1.0 + noise / 100,
                     "energy_rmse_meV_per_atom[amorphous]": 40.0, "forces_rmse_eV_per_A[amorphous]": 1.0})
        rows.append({"teacher": "gap", "strategy": "full", "n_synth": 800, "n_real": 100, "seed": seed,
                     "energy_rmse_meV_per_atom": 70 + noise, "forces_rmse_eV_per_A": 1.0 + noise / 100,
                     "energy_rmse_meV_per_atom[amorphous]": 30.0, "forces_rmse_eV_per_A[amorphous]": 0.9})
    table = headline_table(pd.DataFrame(rows))
    assert set(table["subset"]) == {"all", "amorphous"}
    e = table[(table["subset"] == "all") & (table["metric"] == "energy")].iloc[0]
    assert e["cut_percent"] == pytest.approx(-40.0) and not e["within_1sigma"] and e["welch_p"] < 0.05
    f = table[(table["subset"] == "all") & (table["metric"] == "forces")].iloc[0]
    assert f["within_1sigma"] and f["cut_percent"] == pytest.approx(0.0)
    amorphous = table[(table["subset"] == "amorphous") & (table["metric"] == "energy")].iloc[0]
    assert amorphous["cut_percent"] == pytest.approx(25.0) and amorphous["within_1sigma"]
    from synpre.headline import headline_markdown

    assert "**Negative transfer**" in headline_markdown(table) and "config_type amorphous" in headline_markdown(table)


def test_one_seed_on_each_side_is_not_called_negative_transfer():
    """With one seed of each, a worse mean has no spread to be judged against: reported as not tested."""
    from synpre.headline import headline_markdown

    rows = [{"teacher": "direct", "strategy": "scratch", "n_synth": 0, "n_real": 25, "seed": 0,
             "energy_rmse_meV_per_atom": 101.58, "forces_rmse_eV_per_A": 1.16},
            {"teacher": "u", "strategy": "full", "n_synth": 800, "n_real": 25, "seed": 0,
             "energy_rmse_meV_per_atom": 101.69, "forces_rmse_eV_per_A": 1.10}]
    table = headline_table(pd.DataFrame(rows))
    assert table["within_1sigma"].isna().all()
    text = headline_markdown(table)
    assert "**Negative transfer**" not in text
    assert "Not tested for negative transfer" in text and "N_real 25 (u, full, N_synth 800, energy)" in text


def test_models_are_marked_against_the_constant_predictor():
    from synpre.aggregate import constant_markdown, mark_against_constant

    runs = pd.DataFrame([{"teacher": "direct", "strategy": "scratch", "n_synth": 0, "n_real": 10, "seed": 0,
                          "energy_rmse_meV_per_atom": 340.0},
                         {"teacher": "gap", "strategy": "full", "n_synth": 800, "n_real": 10, "seed": 0,
                          "energy_rmse_meV_per_atom": 160.0}])
    constant = pd.DataFrame([{"teacher": "constant", "n_real": 10, "energy_rmse_meV_per_atom": 331.4}])
    marked = mark_against_constant(runs, constant)
    assert list(marked["beats_constant"]) == [False, True]
    text = constant_markdown(marked)
    assert "1 of 2 models do not beat the constant predictor" in text and "340.0 vs 331.4" in text


def test_constant_predictor_is_the_training_mean(tmp_path):
    import numpy as np
    from ase.build import bulk

    from constant_baseline import constant_predictions
    from synpre.labels import with_labels

    cells = [bulk("C", "diamond", a=3.57, cubic=True), bulk("C", "diamond", a=3.57)]
    train = [with_labels(a, e * len(a), np.ones((len(a), 3))) for a, e in zip(cells, (-9.0, -8.0))]
    e, preds = constant_predictions(train, cells)
    assert e == pytest.approx(-8.5)
    assert [p.get_potential_energy() for p in preds] == pytest.approx([-8.5 * 8, -8.5 * 2])
    assert all(not p.get_forces().any() for p in preds)


def test_dimer_metrics_tell_a_wall_from_a_collapse():
    import numpy as np

    from synpre.dimer import DISTANCES, dimer_metrics

    r = DISTANCES
    morse = 6.0 * (1 - np.exp(-2.0 * (r - 1.3))) ** 2 - 6.0  # one minimum at 1.3 A, a steep wall
    m = dimer_metrics(r, morse - morse[-1])
    assert m["n_minima"] == 1 and m["force_sign_flips"] == 1 and m["wall_eV"] > 20
    assert m["r_min_A"] == pytest.approx(1.3, abs=0.05)
    collapse = np.where(r < 1.0, -6.0 * (1.0 - r) / 0.5, 0.0) + morse * (r >= 1.0)  # falls towards r -> 0.5
    c = dimer_metrics(r, collapse)
    assert c["wall_eV"] < 0 or c["n_minima"] != 1 or c["force_sign_flips"] != 1
    wiggle = morse + 0.5 * np.sin(8 * r) * (r > 1.6) * (r < 3.5)  # a spurious second minimum
    assert dimer_metrics(r, wiggle)["n_minima"] > 1


def test_residual_shift_offsets_by_least_absolute_deviations():
    """refit_shift: residual fits the per-type offset that explains a pre-trained model's energy errors, and
    one structure the model gets badly wrong does not move it (least absolute deviations)."""
    import numpy as np
    from ase import Atoms

    from synpre.labels import with_labels
    from synpre.shift_fit import residual_offsets

    rng = np.random.default_rng(0)
    frames, predicted = [], []
    for n_c, n_si in ((4, 0), (2, 2), (1, 5), (6, 2)):
        atoms = Atoms(["C"] * n_c + ["Si"] * n_si, positions=rng.normal(size=(n_c + n_si, 3)))
        e_pred = float(rng.normal())
        frames.append(with_labels(atoms, e_pred + 0.3 * n_c - 1.2 * n_si, np.zeros((n_c + n_si, 3))))
        predicted.append(e_pred)
    assert residual_offsets(frames, predicted, ["C", "Si"]) == pytest.approx([0.3, -1.2])
    assert residual_offsets(frames[:1], predicted[:1], ["C"]) == pytest.approx([0.3])
    # an outlier (0.7 eV/atom off, as graphite is for the default teacher) leaves both fits where they were
    bad = with_labels(Atoms(["C"] * 3 + ["Si"] * 3, positions=rng.normal(size=(6, 3))), 0.3 * 3 - 1.2 * 3 + 6 * 0.7,
                      np.zeros((6, 3)))
    assert residual_offsets(frames + [bad], predicted + [0.0], ["C", "Si"]) == pytest.approx([0.3, -1.2])
    carbon = [f for f in frames if set(f.get_chemical_symbols()) == {"C"}]
    c_pred = [p for f, p in zip(frames, predicted) if set(f.get_chemical_symbols()) == {"C"}]
    graphite = with_labels(Atoms(["C"] * 4, positions=rng.normal(size=(4, 3))), 4 * (0.3 + 0.7), np.zeros((4, 3)))
    assert residual_offsets(carbon * 2 + [graphite], c_pred * 2 + [0.0], ["C"]) == pytest.approx([0.3])


def test_pretraining_table_says_what_ended_each_pre_training(tmp_path):
    """summary.md's pre-training table: a run cut by its step budget while still improving is flagged as not
    converged; one ended by early stopping is not; a training.json from before the field is 'not recorded'."""
    from synpre.aggregate import pretraining_markdown, pretraining_table

    runs = {100: {"epochs": 40, "steps": 1000, "best_epoch": 29, "stopped_by": "early_stopping"},
            800: {"epochs": 20, "steps": 4000, "best_epoch": 19, "stopped_by": "max_steps"},
            200: {"epochs": 20, "best_epoch": 12}}
    files = []
    for n, t in runs.items():
        path = tmp_path / "gap" / f"pretrain-{n}" / "training.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(t | {"best_val_forces_rmse": 0.7, "best_val_per_atom_energy_rmse_meV": 90.0}))
        files.append(str(path))
    table = pretraining_table(files)
    assert list(table["n_synth"]) == [100, 200, 800] and set(table["teacher"]) == {"gap"}
    assert list(table["stopped_by"]) == ["early stopping (converged)", "not recorded", "step budget"]
    text = pretraining_markdown(table)
    assert "**Not converged**: 1 of 3" in text and "| gap " in text
    assert pretraining_markdown(pretraining_table([])) == ""


def test_summary_columns_follow_n_synth_by_number():
    """The paper's table puts the pre-training sizes in numeric order: 50 before 400 (not as text)."""
    from synpre.aggregate import paper_table

    rows = [{"teacher": t, "strategy": s, "n_synth": n, "n_real": 10, "seed": 0, "energy_rmse_meV_per_atom": 1.0}
            for t, s, n in (("direct", "scratch", 0), ("gap", "full", 400), ("gap", "full", 50), ("gap", "full", 100))]
    table = paper_table(pd.DataFrame(rows), "energy_rmse_meV_per_atom", 1)
    assert list(table.columns) == ["direct", "gap, 50 synthetic", "gap, 100 synthetic", "gap, 400 synthetic"]
