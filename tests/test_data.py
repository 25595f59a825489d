"""Unit tests: structures, sampling, datasets, reference preparation, subsets (real ASE/LAMMPS)."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

from synpre.datasets import DatasetError, validated
from synpre.labels import with_labels
from synpre.aggregate import runs_table
from synpre.metrics import compare
from synpre.reference import prepare
from synpre.sampling import filter_frames, mqa_stages, run_mqa
from synpre.structures import cubic_cell_length, min_interatomic_distance, random_cell

import merge_synthetic
import prepare_reference
import sample_md
import subset

PROTOCOL = {"melt": {"temperature": 5000, "steps": 100}, "quench": {"steps": 100},
            "anneal": {"steps": 200}, "cool": {"steps": 100}}


def labelled(n=4, energy=-10.0, seed=0, **info):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        a = random_cell(["C"] * 8, 2.0, 1.2, rng)
        a = with_labels(a, energy * len(a) + i, rng.normal(size=(len(a), 3)), info=dict(info, index=i))
        out.append(a)
    return out


def test_random_cell_density_and_min_distance():
    rng = np.random.default_rng(1)
    a = random_cell(["C"] * 64, 3.0, 1.0, rng)
    mass_g = a.get_masses().sum() / 6.02214076e23
    assert mass_g / (a.get_volume() * 1e-24) == pytest.approx(3.0, rel=1e-6)
    assert min_interatomic_distance(a) >= 1.0
    assert cubic_cell_length(["C"] * 64, 3.5) == pytest.approx(7.14, abs=0.01)


def test_random_cell_impossible_packing_is_a_clear_error():
    with pytest.raises(RuntimeError, match="min_distance"):
        random_cell(["C"] * 64, 20.0, 1.5, np.random.default_rng(0), max_tries=50)


def test_mqa_stages_temperatures():
    st = mqa_stages({**PROTOCOL, "anneal": {"steps": 200, "heat_steps": 50}}, 2500)
    assert [s.name for s in st] == ["melt", "quench", "heat", "anneal", "cool"]
    assert st[1].t_end == 300 and st[3].t_start == 2500 and not st[0].record


def test_lammps_mqa_trajectory_snapshots():
    from synpre.lammps_driver import LammpsMD, LammpsPotential

    pot = LammpsPotential("tersoff")
    frames = run_mqa(lambda a, s: LammpsMD(a, pot, 1.0, s), ["C"] * 64, 2.5, 2500, PROTOCOL, 50, 1.0, seed=3)
    assert len(frames) == 8  # quench 2 + anneal 4 + cool 2 (melt not recorded)
    assert frames[-1].info["stage"] == "cool" and frames[0].info["density"] == 2.5
    assert all(np.isfinite(f.positions).all() for f in frames)
    again = run_mqa(lambda a, s: LammpsMD(a, pot, 1.0, s), ["C"] * 64, 2.5, 2500, PROTOCOL, 50, 1.0, seed=3)
    assert np.allclose(frames[-1].positions, again[-1].positions)  # same seed, same trajectory


def test_filter_frames_counts_dropped():
    good = random_cell(["C"] * 8, 2.0, 1.2, np.random.default_rng(0))
    close = good.copy()
    close.positions[1] = close.positions[0] + [0.3, 0, 0]
    nan = good.copy()
    nan.positions[2] = np.nan
    kept, dropped = filter_frames([good, close, nan], 0.8)
    assert kept == [good] and dropped == {"too close": 1, "non-finite": 1}


def test_sample_md_cli(tmp_path):
    settings = {"composition": {"C": 64}, "driver": {"kind": "lammps", "potential": "tersoff"}, "timestep_fs": 1.0,
                "snapshot_every": 100, "protocol": PROTOCOL, "start_min_distance": 1.0, "filter_min_distance": 0.8}
    out = tmp_path / "traj.xyz"
    sample_md.main(["--settings", json.dumps(settings), "--density", "2.0", "--anneal-temperature", "2000",
                    "--seed", "1", "--trajectory", "5", "--out", str(out)])
    frames = read(out, ":")
    assert len(frames) == 4 and frames[0].info["trajectory"] == 5 and len(frames[0]) == 64


@pytest.mark.parametrize("breakage, message", [
    ("no_energy", "no energy under key 'energy'"),
    ("no_forces", "no forces under key 'forces'"),
    ("nan", "NaN/infinite"),
    ("empty", "zero atoms"),
    ("overlap", "on top of each other"),
    ("element", "not in the model's elements"),
])
def test_validation_names_structure_and_fix(breakage, message):
    frames = labelled(3)
    bad = frames[1]
    if breakage == "no_energy":
        bad = Atoms(bad.get_chemical_symbols(), bad.positions, cell=bad.cell, pbc=True)
        bad.arrays["forces"] = np.zeros((len(bad), 3))
    elif breakage == "no_forces":
        bad = Atoms(bad.get_chemical_symbols(), bad.positions, cell=bad.cell, pbc=True)
        bad.info["energy"] = -1.0
    elif breakage == "nan":
        bad = with_labels(bad, float("nan"), bad.get_forces())
    elif breakage == "empty":
        bad = Atoms(cell=bad.cell, pbc=True)
    elif breakage == "overlap":
        bad.positions[3] = bad.positions[2]
    elif breakage == "element":
        bad = with_labels(Atoms(["Si"] + ["C"] * 7, bad.positions, cell=bad.cell, pbc=True), -1.0,
                          np.zeros((8, 3)))
    frames[1] = bad
    with pytest.raises(DatasetError, match=message) as err:
        validated(frames, "data.xyz", "energy", "forces", ["C"], {"C": -1.0})
    assert "data.xyz structure 1" in str(err.value)


def test_energies_are_referenced_to_isolated_atoms():
    frames = validated(labelled(2, energy=-50.0), "x", "energy", "forces", ["C"], {"C": -47.0})
    assert frames[0].get_potential_energy() / 8 == pytest.approx(-3.0)


def reference_settings(path, **split):
    return {"files": [str(path)], "energy_key": "energy", "forces_key": "forces",
            "isolated_atom_energies": {"C": 0.0}, "exclude": {"config_type": ["dimer"]},
            "split": {"key": "split", "test_value": "test", "test_fraction": 0.25, "n_val": 2, "seed": 0, **split}}


def test_prepare_honours_split_key_and_filter(tmp_path):
    frames = labelled(12)
    for i, a in enumerate(frames):
        a.info["split"] = "test" if i < 3 else "train"
        a.info["config_type"] = "dimer" if i == 11 else "bulk"
    write(tmp_path / "d.xyz", frames)
    parts = prepare(reference_settings(tmp_path / "d.xyz"), ["C"])
    assert sorted(a.info["index"] for a in parts["test"]) == [0, 1, 2]
    assert len(parts["val"]) == 2 and len(parts["train_pool"]) == 6  # 8 train (dimer dropped) - 2 val
    again = prepare(reference_settings(tmp_path / "d.xyz"), ["C"])
    assert [a.info["index"] for a in again["train_pool"]] == [a.info["index"] for a in parts["train_pool"]]


def test_held_out_regions_and_the_teachers_own_structures(tmp_path):
    """split.test_where sends whole regions to the test set; split.teacher_where gives fitted teachers
    structures that no student sees. Without teacher_where the teacher fits the students' train pool."""
    frames = labelled(16)
    for i, a in enumerate(frames):
        a.info.update(split="test" if i < 2 else "train", density=1.5 + 0.25 * (i % 8), trajectory=i // 2,
                      config_type="graphite" if i == 15 else "amorphous")
    write(tmp_path / "d.xyz", frames)
    settings = reference_settings(tmp_path / "d.xyz")
    plain = prepare(settings, ["C"])
    assert [a.info["index"] for a in plain["teacher_pool"]] == [a.info["index"] for a in plain["train_pool"]]
    assert "per_held_out" not in compare(plain["test"], plain["test"])  # nothing held out, nothing scored apart
    settings["split"].update(test_where={"density": {"min": 3.0}, "config_type": ["graphite"]},
                             teacher_where={"trajectory": [2, 3]})
    parts = prepare(settings, ["C"])
    test = {a.info["index"] for a in parts["test"]}
    assert test == {0, 1, 6, 7, 14, 15}  # the split's own, density >= 3.0 (i % 8 >= 6) and the graphite cell
    tags = {a.info["index"]: a.info.get("held_out") for a in parts["test"]}
    assert tags == {0: None, 1: None, 6: "density", 7: "density", 14: "density", 15: "density"}  # the first rule
    # scored apart: the density band and the rest (a region held out by config_type alone is scored apart
    # as its own config_type already)
    preds = [a.copy() for a in parts["test"]]
    for p, a in zip(preds, parts["test"]):
        p.calc = SinglePointCalculator(p, energy=a.get_potential_energy() + (len(a) * 0.1 if a.info.get("held_out")
                                                                             == "density" else 0.0),
                                       forces=a.get_forces())
    scores = compare(parts["test"], preds)
    band, rest = scores["per_held_out"]["held-out density"], scores["per_held_out"]["in-distribution"]
    assert (band["n_structures"], rest["n_structures"]) == (4, 2)
    assert band["energy_rmse_meV_per_atom"] == pytest.approx(100.0) and rest["energy_rmse_meV_per_atom"] == 0.0
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(scores | {"teacher": "direct", "n_synth": 0, "n_real": 3, "seed": 0}))
    row = runs_table([str(path)]).iloc[0]
    assert row["energy_rmse_meV_per_atom[held-out density]"] == pytest.approx(100.0)
    assert row["energy_rmse_meV_per_atom[in-distribution]"] == 0.0
    assert {a.info["index"] for a in parts["teacher_pool"]} == {4, 5}
    students = {a.info["index"] for k in ("train_pool", "val") for a in parts[k]}
    assert students == set(range(16)) - test - {4, 5}
    settings["split"]["teacher_where"] = {"trajectory": [99]}
    with pytest.raises(DatasetError, match="teacher_where=.*selects no training structure"):
        prepare(settings, ["C"])


def test_load_atoms_dataset_from_a_local_cache(tmp_path):
    """A load-atoms dataset id read offline from a filled cache root (database entry + processed file)."""
    from load_atoms.atoms_dataset import InMemoryAtomsDataset
    from load_atoms.database.database_entry import DatabaseEntry

    entry = {"name": "MY-C", "year": 2026, "description": "test", "category": "Potential Fitting",
             "format": "memory"}
    (tmp_path / "database-entries").mkdir()
    (tmp_path / "database-entries" / "MY-C.yaml").write_text(json.dumps(entry))
    frames = labelled(8)
    for a in frames:  # load-atoms stores labels as plain info/arrays, not in a calculator
        e, f = a.get_potential_energy(), a.get_forces()
        a.calc = None
        a.info["energy"], a.arrays["forces"] = e, f
    InMemoryAtomsDataset.save(tmp_path / "MY-C.pkl", frames, DatabaseEntry(**entry))
    settings = reference_settings("unused")
    settings.update(files=[], load_atoms={"id": "MY-C", "root": str(tmp_path)})
    parts = prepare(settings, ["C"])
    assert sum(len(parts[k]) for k in ("train_pool", "val", "test")) == 8
    assert parts["test"][0].info["source"] == "load-atoms:MY-C"


def test_load_atoms_unknown_id_is_clear(tmp_path):
    settings = reference_settings("unused")
    settings.update(files=[], load_atoms={"id": "NOT-CACHED", "root": str(tmp_path)})
    with pytest.raises(DatasetError, match="reference.load_atoms: dataset 'NOT-CACHED' not found"):
        prepare(settings, ["C"])


def test_prepare_random_split_without_key(tmp_path):
    write(tmp_path / "d.xyz", labelled(20))
    parts = prepare(reference_settings(tmp_path / "d.xyz"), ["C"])
    assert len(parts["test"]) == 5 and len(parts["val"]) == 2 and len(parts["train_pool"]) == 13


def test_empty_after_filtering_is_an_error(tmp_path):
    write(tmp_path / "d.xyz", labelled(3, config_type="dimer"))
    with pytest.raises(DatasetError, match="no structures left"):
        prepare(reference_settings(tmp_path / "d.xyz"), ["C"])


def test_prepare_reference_cli_fails_with_one_line(tmp_path, capsys):
    write(tmp_path / "d.xyz", labelled(3))
    (tmp_path / "d.xyz").write_text((tmp_path / "d.xyz").read_text().replace("energy=", "nrg="))
    with pytest.raises(SystemExit):
        prepare_reference.main(["--settings", json.dumps(reference_settings(tmp_path / "d.xyz")),
                                "--elements", "C", "--out-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert f"ERROR: {tmp_path / 'd.xyz'} structure 0: no energy" in err
    assert not (tmp_path / "out" / "train_pool.xyz").exists()


def test_subsets_are_nested_prefixes(tmp_path):
    write(tmp_path / "pool.xyz", labelled(6))
    for n in (2, 4):
        subset.main(["--pool", str(tmp_path / "pool.xyz"), "--n", str(n), "--out", str(tmp_path / f"s{n}.xyz")])
    s2, s4 = read(tmp_path / "s2.xyz", ":"), read(tmp_path / "s4.xyz", ":")
    assert [a.info["index"] for a in s4[:2]] == [a.info["index"] for a in s2]


def test_subset_larger_than_pool(tmp_path, capsys):
    write(tmp_path / "pool.xyz", labelled(3))
    with pytest.raises(SystemExit):
        subset.main(["--pool", str(tmp_path / "pool.xyz"), "--n", "25", "--out", str(tmp_path / "s.xyz")])
    assert "n_real=25 is larger than the pool: 3 structures" in capsys.readouterr().err


def test_merge_synthetic_holds_out_validation(tmp_path):
    write(tmp_path / "a.xyz", labelled(5))
    write(tmp_path / "b.xyz", labelled(5, seed=1))
    merge_synthetic.main(["--inputs", str(tmp_path / "a.xyz"), str(tmp_path / "b.xyz"), "--n-val", "3",
                          "--pool", str(tmp_path / "pool.xyz"), "--val", str(tmp_path / "val.xyz")])
    pool, val = read(tmp_path / "pool.xyz", ":"), read(tmp_path / "val.xyz", ":")
    assert len(pool) == 7 and len(val) == 3
    keys = {tuple(a.positions[0]) for a in pool}
    assert not keys & {tuple(a.positions[0]) for a in val}


def test_perturbations_fixed_magnitude_strain_and_guard():
    from synpre.perturb import displaced, perturbations, strained

    rng = np.random.default_rng(0)
    base = random_cell(["C"] * 16, 2.0, 1.3, rng)
    moved = displaced(base, rng, 0.15, "fixed")
    d = moved.positions - base.positions
    d -= base.cell.cellpar()[0] * np.round(d / base.cell.cellpar()[0])  # cubic cell: undo wrapping
    assert np.allclose(np.linalg.norm(d, axis=1), 0.15)
    s = strained(base, rng, 0.05)
    assert np.all(np.abs(s.cell.array / base.cell.array[0, 0] - np.eye(3)) <= 0.05 + 1e-12)
    out = list(perturbations([base], {"strain": 0.05, "displacements": [0.0, 0.3], "rounds": 2,
                                      "min_distance": 0.8}, seed=1))
    kept = [a for a, why in out if a is not None]
    assert len(out) == 4 and all(min_interatomic_distance(a) >= 0.8 for a in kept)
    assert {a.info["displacement"] for a in kept} <= {0.0, 0.3}
    impossible = list(perturbations([base], {"strain": 0.0, "displacements": [0.1], "rounds": 1,
                                             "min_distance": 5.0}, seed=1, tries=3))
    assert impossible[0][0] is None and "no perturbation" in impossible[0][1]


SHORT_RANGE = {"dimers": 5, "trimers": 7, "r_min": 0.6, "r_max": 2.0, "box": 15.0, "compressed_scales": [0.8, 0.9],
               "max_sources": 3, "min_distance": 1.0, "seed": 0}


def test_short_range_structures_and_their_parts(tmp_path):
    """Dimers of every element pair at evenly spaced distances, trimers with every bond in range, compressed
    training cells (too-close copies dropped); the parts of the labelling shards never overlap."""
    import short_range
    from synpre.short_range import compressed, dimers, max_short_range, short_range_part, trimers

    d = dimers(["Si", "C"], SHORT_RANGE)
    assert len(d) == 3 * 5 and [a.info["pair"] for a in d[::5]] == ["C-C", "C-Si", "Si-Si"]
    assert [a.get_distance(0, 1) for a in d[:5]] == pytest.approx(np.linspace(0.6, 2.0, 5))
    assert all(a.pbc.all() and a.cell[0, 0] == 15.0 for a in d)
    t = trimers(["C"], SHORT_RANGE, np.random.default_rng(0))
    bonds = np.array([[a.get_distance(i, j) for i, j in ((0, 1), (0, 2), (1, 2))] for a in t])
    assert len(t) == 7 and bonds.min() >= 0.6 and bonds.max() <= 2.0 and {a.info["config_type"] for a in t} == {"trimer"}
    rng = np.random.default_rng(0)
    cells = [random_cell(["C"] * 16, 2.0, 1.2, rng) for _ in range(4)]
    dense, dropped = compressed(cells, SHORT_RANGE)
    assert len(dense) + dropped == 8 and all(min_interatomic_distance(a) >= 1.0 for a in dense)
    assert {a.info["scale"] for a in dense} <= {0.8, 0.9}
    assert dense[0].get_volume() == pytest.approx(cells[dense[0].info["source_index"]].get_volume() * dense[0].info["scale"] ** 3)
    parts = [short_range_part(["C"], SHORT_RANGE, cells, k, 2)[0] for k in (0, 1)]
    assert sum(map(len, parts)) <= max_short_range(SHORT_RANGE, 1) == 5 + 7 + 3 * 2
    assert sum(a.info["config_type"] == "compressed" for part in parts for a in part) <= 3 * 2  # max_sources: 3
    small = [a.positions.tobytes() for part in parts for a in part if a.info["config_type"] != "compressed"]
    assert len(small) == len(set(small)) == 5 + 7
    write(tmp_path / "pool.xyz", cells)
    short_range.main(["--inputs", str(tmp_path / "pool.xyz"), "--elements", "C", "--settings", json.dumps(SHORT_RANGE),
                      "--part", "1", "--parts", "2", "--out", str(tmp_path / "part-1.xyz")])
    assert len(read(tmp_path / "part-1.xyz", ":")) == len(parts[1])


def test_alchemy_transmutes_and_rescales_labels(tmp_path):
    frames = labelled(6)
    write(tmp_path / "c.xyz", frames)
    merge_synthetic.main(["--inputs", str(tmp_path / "c.xyz"), "--n-val", "2", "--pool", str(tmp_path / "pool.xyz"),
                          "--val", str(tmp_path / "val.xyz"),
                          "--alchemy", '{"species_map": {"C": "Si"}, "cell_scale": 1.5}'])
    si = read(tmp_path / "pool.xyz", ":") + read(tmp_path / "val.xyz", ":")
    by_index = {a.info["index"]: a for a in si}
    for c in frames:
        s = by_index[c.info["index"]]
        assert set(s.get_chemical_symbols()) == {"Si"}
        assert s.get_volume() == pytest.approx(c.get_volume() * 1.5**3)
        assert s.get_potential_energy() == pytest.approx(c.get_potential_energy())
        assert np.allclose(s.get_forces() * 1.5, c.get_forces())


@pytest.mark.parametrize("weight, copies", [(1.0, (1, 1)), (0.5, (2, 1)), (0.3, (3, 1)), (2.0, (1, 2)), (2.6, (1, 3))])
def test_replay_weight_is_realised_by_repeating_structures(weight, copies):
    from synpre.replay import repeats

    assert repeats(weight) == copies


def test_replay_mix_moves_synthetic_energies_to_the_real_reference_and_keeps_forces():
    """The replayed structures are the first `structures` of the pre-training set, their energies moved by
    n_atoms x the per-element offset, forces untouched; stress (only in one set) dropped; the real ones as they are."""
    from synpre.replay import mix

    real = labelled(3, energy=-150.0, seed=1, config_type="amorphous")
    synthetic = [with_labels(a, a.get_potential_energy(), a.get_forces(), stress=np.zeros(6))
                 for a in labelled(6, energy=-7.0, seed=2)]
    frames, info = mix(real, synthetic, {"C": -143.0}, structures=4, weight=0.5)
    assert len(frames) == info["training_structures"] == 3 * 2 + 4
    assert (info["structures"], info["copies_real"], info["copies_synthetic"], info["weight"]) == (4, 2, 1, 0.5)
    moved = [a for a in frames if a.info["replay_source"] == "synthetic"]
    assert [a.get_potential_energy() for a in moved] == pytest.approx(
        [a.get_potential_energy() - 143.0 * len(a) for a in synthetic[:4]])
    assert all(np.array_equal(a.get_forces(), b.get_forces()) for a, b in zip(moved, synthetic))
    kept = [a for a in frames if a.info["replay_source"] == "real"]
    assert sorted(a.get_potential_energy() for a in kept) == sorted(2 * [a.get_potential_energy() for a in real])
    assert all(a.info["config_type"] == "amorphous" for a in kept) and "stress" not in moved[0].calc.results
    # more structures asked than the pre-training set holds: all of it, and the record says so
    _, info = mix(real, synthetic, {"C": 0.0}, structures=50, weight=1.0)
    assert (info["structures_requested"], info["structures"]) == (50, 6)
