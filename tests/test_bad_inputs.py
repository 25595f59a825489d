"""The bad-input corpus (tests/bad_inputs/cases.yaml): every case is run as a user runs the study, and
must stop with one clear line naming the file and structure (or the config key) and the fix, before
any training job starts."""

import copy

import pytest
import yaml

from conftest import ROOT, scratch_copy, snakemake

CORPUS = ROOT / "tests" / "bad_inputs"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text())
TRAINING_RULES = ("pretrain", "finetune", "direct")


def merged(base: dict, change: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in change.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return scratch_copy(tmp_path_factory.mktemp("bad-inputs"))


def test_every_corpus_file_has_a_case():
    used = {c["file"] for c in CASES.values() if "file" in c} | {"broken_gap.xml"}
    assert {p.name for p in CORPUS.glob("*.extxyz")} | {"broken_gap.xml"} == used


@pytest.mark.e2e
@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_stops_with_one_clear_line(name, work):
    case = CASES[name]
    corpus = work / "tests" / "bad_inputs"
    text = yaml.safe_dump(case.get("config", {})).replace("{dir}", str(corpus))
    config = merged(yaml.safe_load((ROOT / "tests/config/tiny.yaml").read_text()), yaml.safe_load(text))
    config["study"] = f"bad-{name}"
    if "file" in case:
        config["reference"]["files"] = [str(corpus / case["file"])]
    configfile = work / f"{name}.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    # one core: the highest-priority jobs (reference preparation, then teachers) run first, as they
    # would on a busy machine; --show-failed-logs puts the job's message in front of the user
    proc = snakemake("--cores", "1", "--configfile", str(configfile), "--show-failed-logs", cwd=work, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    expected = case["error"].replace("{dir}", str(corpus))
    lines = [line for line in out.splitlines() if expected in line]
    assert lines, f"expected {expected!r} in:\n{out[-4000:]}"
    assert "fix" in lines[0] or ";" in lines[0]  # the line goes on to say what to do
    study = work / "results" / f"bad-{name}"
    started = [rule for rule in TRAINING_RULES
               if (study / "logs" / rule).exists() or (study / "benchmarks" / rule).exists()]
    assert not started, f"training jobs started despite the bad input: {started}"
