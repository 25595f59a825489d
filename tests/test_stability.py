"""The stability protocol (synpre.stability), its calibrated alarms, and the survival statistics of the
stability report (synpre.survival, scripts/stability_report.py): unit tests, MD with classical teachers
only (no trained model, no study)."""

import json

import numpy as np
import pandas as pd
import pytest
from ase import Atoms

import stability
import stability_report
from synpre.stability import (ProtocolError, calibrate, check_protocol, leave_one_out, protocol_steps, ramp_ps,
                              start_cells)
from synpre.survival import kaplan_meier, km_median, logrank, survival_table, wilson

LCBOP = json.dumps({"name": "lcbop", "kind": "lammps", "potential": "lcbop", "species": ["C"]})
# a short protocol: the machinery of the default one (5 replicas, ramp, hold, every alarm) in ~100 steps a run
PROTOCOL = {"replicas": 5, "temperatures": [1500], "ramp_rate_K_per_ps": 25000, "hold_ps": 0.05, "t_start": 300,
            "timestep_fs": 1.0, "friction_per_ps": 10, "check_every": 5, "record_every": 10, "energy_band": 2.0,
            "min_distance": 0.7, "alarm_margin": 1.25, "calibration": "teacher", "seed": 0,
            "start": {"config_type": None}}


# ---- statistics against hand-computed values -----------------------------------------------------------

# two arms of four runs; True: the run ended on an alarm at that time, False: censored (survived) there
A = ([1, 2, 3, 4], [True, True, False, True])
B = ([2, 3, 5, 6], [True, True, False, False])


def test_kaplan_meier_and_censored_median_by_hand():
    """A: S = 3/4 after t=1, 3/4 x 2/3 = 1/2 after t=2 (the censored run at 3 leaves one at risk), 0 after 4."""
    km = kaplan_meier(*A)
    assert km["time"].tolist() == [1, 2, 4] and km["at_risk"].tolist() == [4, 3, 1]
    assert km["survival"].tolist() == pytest.approx([0.75, 0.5, 0.0])
    assert km_median(*A) == 2 and km_median(*B) == 3
    # three of four survive: the curve never reaches 0.5, the median is censored ("> end")
    assert km_median([1, 5, 5, 5], [True, False, False, False]) is None
    assert kaplan_meier([5, 5], [False, False]).empty


def test_logrank_by_hand_and_against_scipy():
    """At the event times 1, 2, 3, 4 the runs at risk in A (and in all) are 4/8, 3/7, 2/5, 1/3 with 1, 2, 1, 1
    events: E_A = 1/2 + 6/7 + 2/5 + 1/3, V = 1/4 + 20/49 + 6/25 + 2/9 (hypergeometric), O_A = 3."""
    from scipy.stats import CensoredData, chi2
    from scipy.stats import logrank as scipy_logrank

    test = logrank(*A, *B)
    e_a, v = 1 / 2 + 6 / 7 + 2 / 5 + 1 / 3, 1 / 4 + 20 / 49 + 6 / 25 + 2 / 9
    assert test["observed1"] == 3 and test["expected1"] == pytest.approx(e_a)
    assert test["observed2"] == 2 and test["expected2"] == pytest.approx(5 - e_a)
    assert test["variance"] == pytest.approx(v)
    assert test["chi2"] == pytest.approx((3 - e_a) ** 2 / v) and test["p"] == pytest.approx(chi2.sf((3 - e_a) ** 2 / v, 1))
    assert test["p"] == pytest.approx(0.390, abs=1e-3)
    # scipy's implementation agrees, on this example and on larger ones with many tied times
    rng = np.random.default_rng(0)
    cases = [(A, B)] + [((np.round(rng.exponential(1.0, 15), 1), rng.random(15) < 0.7),
                         (np.round(rng.exponential(2.0, 12), 1), rng.random(12) < 0.6)) for _ in range(5)]
    for (t1, e1), (t2, e2) in cases:
        t1, e1, t2, e2 = map(np.asarray, (t1, e1, t2, e2))
        ref = scipy_logrank(CensoredData(uncensored=t1[e1], right=t1[~e1]), CensoredData(uncensored=t2[e2], right=t2[~e2]))
        assert logrank(t1, e1, t2, e2)["p"] == pytest.approx(ref.pvalue, rel=1e-9)
    # no alarm in either arm: nothing to test
    assert np.isnan(logrank([1, 1], [False, False], [1, 1], [False, False])["p"])


def test_wilson_interval():
    assert wilson(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)  # the textbook 8 of 10
    assert wilson(0, 5)[0] == 0.0 and wilson(5, 5)[1] == 1.0 and wilson(5, 5)[0] == pytest.approx(0.5655, abs=1e-4)
    assert all(np.isnan(wilson(0, 0)))


# ---- the protocol --------------------------------------------------------------------------------------

def _cell(i, config_type="amorphous", temperature=300.0):
    a = Atoms("C2", positions=[[0, 0, 0], [1.4, 0, 0]], cell=[5, 5, 5], pbc=True)
    a.info.update(config_type=config_type, temperature=temperature, i=i)
    return a


def test_start_cells_are_quenched_cells_spread_through_the_pool():
    frames = [_cell(i, "amorphous" if i % 4 else "graphite", 300.0 if i % 2 else 3000.0) for i in range(40)]
    start = {"config_type": "amorphous", "where": {"temperature": {"max": 300}}}
    pool = [i for i, a in enumerate(frames) if i % 4 and i % 2]  # amorphous at 300 K: 1, 3, 5, 7, 9, ...
    picks = [i for i, _ in start_cells(frames, start, 5)]
    assert picks == [pool[k] for k in (0, 5, 10, 14, 19)] and len(set(picks)) == 5  # first, ..., last
    assert [i for i, _ in start_cells(frames, start, 1)] == [pool[0]]
    few = start_cells(frames[:8], start, 5)  # a pool of 4 cycles (velocities still differ per replica)
    assert [i for i, _ in few] == [1, 3, 5, 7, 1]
    with pytest.raises(ProtocolError, match="selected by"):
        start_cells(frames, dict(start, config_type="diamond"), 5)


def test_ramp_follows_the_rate_and_bad_protocols_are_refused():
    p = dict(PROTOCOL, ramp_rate_K_per_ps=500, hold_ps=2.0, temperatures=[1000, 2000])
    assert ramp_ps(p, 1000) == pytest.approx(1.4) and ramp_ps(p, 2000) == pytest.approx(3.4)
    assert protocol_steps(p, 2000) == (3400, 2000)
    check_protocol(p)
    for bad, message in [({"temperatures": [1000, -5]}, "must be > 0 K"), ({"temperatures": [1000, 1000.0]}, "twice"),
                         ({"timestep_fs": 9}, "outside")]:
        with pytest.raises(ProtocolError, match=message):
            check_protocol(dict(p, **bad))


def _run(replica, max_force, min_distance=1.2, drift=0.2, alarm=None):
    return {"replica": replica, "alarm": alarm,
            "extremes": {"max_force": max_force, "min_distance": min_distance, "max_energy_drift": drift}}


def test_calibration_covers_the_training_cells_and_the_teachers_md():
    from ase.calculators.singlepoint import SinglePointCalculator

    training = []
    for ct, peak in (("amorphous", 10.0), ("amorphous", 12.0), ("graphite", 40.0)):  # a rattled crystal's 40 eV/A
        a = _cell(0, ct)
        a.calc = SinglePointCalculator(a, energy=0.0, forces=[[peak, 0, 0], [0, 0, 0]])
        training.append(a)
    p = dict(PROTOCOL, start={"config_type": "amorphous"})
    data = calibrate(p, training)  # the start type's largest force sets it, not the graphite
    assert data["max_force"] == pytest.approx(1.25 * 12.0) and data["sources"]["max_force"] == "1.25 x training cells"
    assert (data["energy_band"], data["min_distance"]) == (2.0, 0.7)
    runs = [_run(0, 14.0, 1.1, 0.5), _run(1, 18.0, 0.8, 1.9), _run(2, 99.0, 0.1, 50.0, alarm="non_finite")]
    cal = calibrate(p, training, runs)  # the non-finite run is left out
    assert cal["teacher_runs"] == 2 and cal["max_force"] == pytest.approx(1.25 * 18.0)
    assert cal["energy_band"] == pytest.approx(1.25 * 1.9) and cal["min_distance"] == pytest.approx(0.8 / 1.25)
    assert calibrate(p, training, [_run(0, 5.0, 0.75)])["min_distance"] == pytest.approx(0.75 / 1.25)
    assert calibrate(p)["max_force"] == float("inf")
    # leave-one-out: run 1 alone reaches 30 eV/A, so thresholds from the others (1.25 x 14) do not cover it
    loo = leave_one_out(p, training, [_run(0, 14.0), _run(1, 30.0), _run(2, 13.0)])
    assert loo["would_alarm"] == 1 and loo["alarms"] == [{"replica": 1, "alarm": "max_force"}]


def test_teacher_md_never_fires_the_alarms_it_calibrated(real, tmp_path):
    """The issue's check: the teacher (LCBOP, through LAMMPS) runs the protocol on 5 replicas to calibrate
    the alarms; then 5 new replicas (other velocity seeds) with those alarms armed: none fires."""
    settings = json.dumps(PROTOCOL)
    cal = tmp_path / "teacher" / "stability-1500K.json"
    stability.main(["--teacher", LCBOP, "--calibrate", "--temperature", "1500", "--start", str(real / "test.xyz"),
                    "--forces-from", str(real / "train_pool.xyz"), "--settings", settings,
                    "--frames", str(cal.with_suffix(".xyz")), "--out", str(cal)])
    c = json.loads(cal.read_text())
    assert c["calibrating"] and c["replicas"] == 5 and c["survived"] == 5 and c["own_alarms"] == 0
    assert len({r["start_index"] for r in c["runs"]}) == 5  # 5 different start cells
    assert c["alarms"]["teacher_runs"] == 5 and np.isfinite(c["alarms"]["max_force"])
    out = tmp_path / "check" / "stability-1500K.json"
    stability.main(["--teacher", LCBOP, "--temperature", "1500", "--start", str(real / "test.xyz"), "--forces-from",
                    str(real / "train_pool.xyz"), "--calibration", str(cal), "--settings",
                    json.dumps(dict(PROTOCOL, seed=1)), "--rdf-reference", str(cal.with_suffix(".xyz")),
                    "--rdf", str(out.parent / "rdf-1500K.json"), "--rdf-curve", str(out.parent / "rdf-1500K.csv"),
                    "--series", str(out.with_suffix(".csv")), "--out", str(out)])
    r = json.loads(out.read_text())
    assert r["alarms"]["max_force"] == pytest.approx(c["alarms"]["max_force"])  # the same thresholds
    assert [x["alarm"] for x in r["runs"]] == [None] * 5, r["runs"]
    assert {x["seed"][1] for x in r["runs"]} == set(range(5)) and r["runs"][0]["seed"][0] == 1
    series = pd.read_csv(out.with_suffix(".csv"))
    assert sorted(series["replica"].unique()) == list(range(5)) and set(series["phase"]) == {"ramp", "hold"}
    ramp = series[series["phase"] == "ramp"]
    assert ramp["target_K"].max() < 1500 and (series.loc[series["phase"] == "hold", "target_K"] == 1500).all()
    rdf = json.loads((out.parent / "rdf-1500K.json").read_text())
    assert rdf["n_frames"] > 0 and rdf["rdf_error"] < 0.5 and rdf["temperature_K"] == 1500


def test_a_calibration_at_another_temperature_is_refused(real, tmp_path, capsys):
    cal = tmp_path / "stability-1000K.json"
    cal.write_text(json.dumps({"temperature_K": 1000.0, "runs": []}))
    with pytest.raises(SystemExit):
        stability.main(["--teacher", LCBOP, "--temperature", "1500", "--start", str(real / "test.xyz"),
                        "--calibration", str(cal), "--settings", json.dumps(PROTOCOL), "--out", str(tmp_path / "x.json")])
    assert "calibrated at 1000.0 K, not 1500 K" in capsys.readouterr().err


# ---- the stability report ------------------------------------------------------------------------------

def _model_file(tmp_path, teacher, seed, temperature, times, n_real=10):
    """A stability-<T>K.json as scripts/stability.py writes it: ``times`` holds each replica's alarm time
    (None: survived the 2-ps protocol)."""
    runs = [{"replica": i, "start_index": i, "survived": t is None, "alarm": None if t is None else "max_force",
             "time_to_failure_ps": t, "failed_in": None if t is None else "ramp", "simulated_ps": 2.0 if t is None else t,
             "protocol_ps": 2.0, "ramp_ps": 1.0, "steps_per_second": 100.0,
             "extremes": {"max_force": 10.0, "min_distance": 1.1, "max_energy_drift": 0.3}} for i, t in enumerate(times)]
    strategy, n_synth = ("scratch", 0) if teacher == "direct" else ("full", 800)
    path = tmp_path / teacher / f"seed-{seed}" / f"stability-{temperature}K.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"study": "s", "teacher": teacher, "strategy": strategy, "n_synth": n_synth,
                                "n_real": n_real, "seed": seed, "temperature_K": float(temperature), "runs": runs,
                                "replicas": len(runs), "alarms": {"max_force": 20.0, "min_distance": 0.7,
                                                                  "energy_band": 2.0, "sources": {}},
                                "settings": PROTOCOL}))
    return str(path)


def test_stability_report_tables_figure_and_verdict(tmp_path):
    files = []
    for seed in (0, 1):  # direct fails early in 9 of 10 runs; pre-trained survives 9 of 10
        files.append(_model_file(tmp_path, "direct", seed, 1000, [0.1 * (seed + 1), 0.2, 0.3, 0.4, 0.5 if seed else None]))
        files.append(_model_file(tmp_path, "gap", seed, 1000, [None, None, None, None, 1.5 if seed else None]))
    teacher = tmp_path / "teacher" / "stability-1000K.json"
    teacher.parent.mkdir()
    teacher.write_text(json.dumps({"teacher": "teacher gap", "temperature_K": 1000.0, "calibrating": True, "replicas": 5,
                                   "own_alarms": 0, "leave_one_out": {"runs": 5, "would_alarm": 1, "alarms": []},
                                   "alarms": {"max_force": 21.0, "min_distance": 0.7, "energy_band": 2.0,
                                              "sources": {"max_force": "1.25 x teacher MD"}},
                                   "runs": json.loads(open(files[1]).read())["runs"], "settings": PROTOCOL}))
    out = {k: tmp_path / name for k, name in (("csv", "stability.csv"), ("survival_csv", "survival.csv"),
                                              ("survival", "survival.png"), ("rdf", "rdf.png"), ("md", "stability.md"))}
    stability_report.main(["--stability", *files, "--teachers", str(teacher), "--csv", str(out["csv"]),
                           "--survival-csv", str(out["survival_csv"]), "--survival", str(out["survival"]),
                           "--rdf-figure", str(out["rdf"]), "--summary", str(out["md"])])
    runs = pd.read_csv(out["csv"])
    assert len(runs) == 25 and set(runs["arm"]) == {"direct", "gap, 800 synthetic", "teacher gap"}
    surv = pd.read_csv(out["survival_csv"]).set_index("arm")
    assert surv.loc["direct", "survived"] == 1 and surv.loc["gap, 800 synthetic", "survived"] == 9
    assert surv.loc["gap, 800 synthetic", "fraction_lo"] == pytest.approx(wilson(9, 10)[0])
    assert surv.loc["direct", "median_ttf_ps"] == pytest.approx(0.3)  # 10 runs, the 5th alarm at 0.3 ps
    assert np.isnan(surv.loc["gap, 800 synthetic", "median_ttf_ps"])  # > 2 ps: more than half survive
    assert surv.loc["gap, 800 synthetic", "logrank_p"] < 0.001
    assert surv.loc["gap, 800 synthetic", "direction"] == "fewer alarms" and surv.loc["direct", "models"] == 2
    md = out["md"].read_text()
    assert "**Verdict: 1 of 1 pre-trained arms" in md and "| > 2" in md and "90% [60%, 98%]" in md
    assert "1 of 5" in md  # the teacher's leave-one-out check
    assert out["survival"].stat().st_size > 0 and out["rdf"].stat().st_size > 0


def test_stability_report_when_stability_is_disabled(tmp_path):
    args = [f"--{k}" for k in ("csv", "survival-csv", "survival", "rdf-figure", "summary")]
    paths = [tmp_path / n for n in ("a.csv", "b.csv", "c.png", "d.png", "e.md")]
    stability_report.main(["--disabled"] + [x for pair in zip(args, map(str, paths)) for x in pair])
    assert "Not run: `stability.enabled` is false" in paths[-1].read_text()
    assert pd.read_csv(paths[0]).empty and survival_table(pd.DataFrame()).empty
