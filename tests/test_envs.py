"""The conda env files are correct by construction: valid specs, pinned, and pinned to exactly the
versions of requirements.txt (the one place versions are chosen). Every rule names one of them."""

import re
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
ENVS = sorted((ROOT / "envs").glob("*.yaml"))


def pins():
    out = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"requirements.txt: {line} is not pinned with =="
            out[req.name.lower()] = spec.version
    return out


def test_requirements_pin_the_design_card_versions():
    p = pins()
    assert p["snakemake"] == "9.27.1" and p["torch"] == "2.13.0" and p["nequip"] == "0.19.1"
    assert p["ase"] == "3.29.0" and p["quippy-ase"] == "0.10.3"
    assert {"pandas", "matplotlib"} <= set(p)


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_env_file_is_valid_and_agrees_with_requirements(env):
    spec = yaml.safe_load(env.read_text())
    assert set(spec) == {"channels", "dependencies"}, env.name
    assert "conda-forge" in spec["channels"]
    conda_deps = [d for d in spec["dependencies"] if isinstance(d, str)]
    pip_blocks = [d["pip"] for d in spec["dependencies"] if isinstance(d, dict)]
    assert "pip" in conda_deps and len(pip_blocks) == 1
    for dep in conda_deps:  # conda match specs: name, optionally =version
        assert re.fullmatch(r"[a-z0-9_.-]+(=[0-9][0-9a-z.*]*)?", dep), f"{env.name}: bad conda spec {dep!r}"
    assert any(d.startswith("python=3.11") for d in conda_deps)
    p = pins()
    for line in pip_blocks[0]:
        req = Requirement(line)
        (s,) = req.specifier
        assert s.operator == "==", f"{env.name}: {line} is not pinned"
        assert p.get(req.name.lower()) == s.version, f"{env.name}: {line} disagrees with requirements.txt"


def test_every_rule_has_conda_log_benchmark_threads():
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        for block in re.split(r"\n\s*rule ", text)[1:]:
            name = block.split(":")[0]
            for directive in ("conda:", "log:", "benchmark:", "threads:"):
                assert directive in block, f"{smk.name}: rule {name} lacks {directive}"
            env = re.search(r'conda:\s*\n\s*"([^"]+)"', block).group(1)
            assert (smk.parent / env).resolve().exists(), f"rule {name}: {env} missing"
