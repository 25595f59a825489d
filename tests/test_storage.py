"""Pre-training data stored as NequIP LMDB (synthetic_storage: lmdb): the converter streams and writes
atomically, the stored frames are the extxyz frames to the last bit, and a real tiny NequIP pre-training
from the LMDB files reaches the same validation metrics and weights as from the extxyz files."""

import json

import numpy as np
import pytest
from ase.io import read

import to_lmdb
import train
from synpre.storage import extxyz_to_lmdb, iter_atomic_data
from test_models import TINY, _val_rows, _weights


@pytest.fixture(scope="module")
def data(real, tmp_path_factory):
    """The shared slice of the reference set (conftest's real: 12 training, 4 validation cells), as
    extxyz and as LMDB."""
    import shutil

    d = tmp_path_factory.mktemp("storage")
    shutil.copy(real / "train_pool.xyz", d / "train.xyz")
    shutil.copy(real / "val.xyz", d / "val.xyz")
    for name in ("train", "val"):
        to_lmdb.main(["--xyz", str(d / f"{name}.xyz"), "--out", str(d / f"{name}.lmdb")])
    return d


def test_lmdb_holds_every_frame_bit_for_bit_in_float64(data):
    import torch
    from nequip.data.dataset import NequIPLMDBDataset

    frames = read(data / "train.xyz", ":")
    ds = NequIPLMDBDataset(str(data / "train.lmdb"))
    assert len(ds) == len(frames) == 12
    for k in (0, 11):
        stored = ds[k]
        assert stored["total_energy"].dtype == torch.float64 and stored["forces"].dtype == torch.float64
        assert stored["total_energy"].item() == frames[k].get_potential_energy()  # exact, not approx
        assert np.array_equal(stored["forces"].numpy(), frames[k].get_forces())
        assert np.array_equal(stored["pos"].numpy(), frames[k].positions)
    assert not list(data.glob(".*.tmp*")), "temporary files left beside the output"


def test_converter_streams_and_publishes_nothing_on_a_bad_frame(data, tmp_path, capsys):
    """Frames are yielded one by one: the first ones arrive although a later frame is broken, and the
    conversion of such a file fails without leaving an output (or its temporary files) behind."""
    text = (data / "train.xyz").read_text()
    bad = tmp_path / "bad.xyz"
    bad.write_text(text + "64\nnot an extxyz comment line\nC 0 0\n")
    frames = iter_atomic_data(bad)
    assert next(frames)["pos"].shape == (64, 3)  # before the broken frame is read
    with pytest.raises(Exception):
        list(frames)
    with pytest.raises(Exception):
        extxyz_to_lmdb(bad, tmp_path / "bad.lmdb", write_frequency=4)  # 12 good frames committed first
    assert list(tmp_path.iterdir()) == [bad]
    (tmp_path / "empty.xyz").write_text("")
    with pytest.raises(SystemExit):
        to_lmdb.main(["--xyz", str(tmp_path / "empty.xyz"), "--out", str(tmp_path / "empty.lmdb")])
    assert "holds no structures" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.xyz", "empty.xyz"]


def test_too_small_a_map_is_enlarged(data, tmp_path):
    info = extxyz_to_lmdb(data / "train.xyz", tmp_path / "t.lmdb", map_size=64 * 1024)
    assert info["frames"] == 12 and info["map_size"] > 64 * 1024
    assert (tmp_path / "t.lmdb").exists() and len(list(tmp_path.iterdir())) == 1


@pytest.mark.e2e
def test_pretraining_from_lmdb_matches_extxyz(data, tmp_path):
    """The same frames (the same from_ase), order (EpochShuffle over the same indices), seed and
    statistics: every epoch's validation metrics and the final weights are identical, not just close.
    A different shuffle or a float32 copy of the labels would change them in the last digits."""
    settings = json.dumps(dict(TINY, training=dict(TINY["training"], max_epochs=3, early_stopping_patience=50)))
    runs = {}
    for kind in ("xyz", "lmdb"):
        runs[kind] = tmp_path / kind
        train.main(["--settings", settings, "--train", str(data / f"train.{kind}"), "--val",
                    str(data / f"val.{kind}"), "--out-dir", str(runs[kind])])
    config = (runs["lmdb"] / "run" / "config.yaml").read_text()
    assert "NequIPLMDBDataset" in config and "synpre.resume.shuffled_loader" in config
    rows = _val_rows(runs["lmdb"])
    assert len(rows) == 3 and rows == _val_rows(runs["xyz"])
    summaries = [json.loads((runs[k] / "training.json").read_text()) for k in ("xyz", "lmdb")]
    for key in ("best_val_monitor", "best_val_forces_rmse", "best_val_per_atom_energy_rmse_meV", "epochs"):
        assert summaries[0][key] == summaries[1][key]
    a, b = _weights(runs["xyz"] / "model.ckpt"), _weights(runs["lmdb"] / "model.ckpt")
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)
