"""The conda env files are correct by construction: valid specs, pinned, and pinned to exactly the
versions of requirements.txt (the one place versions are chosen). Every rule names one of them."""

import functools
import re
import sys
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


# the envs a job that runs a teacher may get (conda_env_of in workflow/rules/common.smk): universal potentials
# (sevennet, chgnet) in universal.yaml, every other teacher kind in teacher.yaml
TEACHER_ENVS = ("teacher.yaml", "universal.yaml")


def _rules():
    """(rule file, rule name, rule text, its conda env files) for every rule of the workflow: one file, or both
    TEACHER_ENVS where the env is chosen by the teacher's kind (a function of common.smk)."""
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"\n\s*rule ", smk.read_text())[1:]:
            env = re.search(r'conda:\s*\n\s*"([^"]+)"', block)
            by_kind = re.search(r"conda:\s*\n\s*(teacher_env|labeller_env|lambda wc: conda_env_of\(|conda_env_of\()",
                                block)
            envs = ([(smk.parent / env.group(1)).resolve()] if env
                    else [ROOT / "envs" / e for e in TEACHER_ENVS] if by_kind else [])
            yield smk, block.split(":")[0], block, envs


def test_every_rule_has_conda_log_benchmark_threads_resources():
    for smk, name, block, envs in _rules():
        for directive in ("conda:", "log:", "benchmark:", "threads:", "resources:"):
            assert directive in block, f"{smk.name}: rule {name} lacks {directive}"
        assert envs and all(env.exists() for env in envs), f"rule {name}: env {envs} missing"


def test_the_universal_env_holds_the_universal_potentials():
    from synpre.teachers import UNIVERSAL

    spec = yaml.safe_load((ROOT / "envs" / "universal.yaml").read_text())
    pinned = {Requirement(line).name.lower() for line in spec["dependencies"][-1]["pip"]}
    assert {Requirement(pin).name for _, pin, *_ in UNIVERSAL.values()} | {"torch", "ase"} <= pinned


def test_every_rule_logs_and_benchmarks_under_its_own_name():
    """One convention: LOGS/<rule>/<wildcards>.log and BENCH/<rule>/<the same>.tsv (LOGS/<rule>.log and
    BENCH/<rule>.tsv for a rule without wildcards), LOGS and BENCH from common.smk."""
    for smk, name, block, _ in _rules():
        log = re.search(r'log:\s*\n\s*f"\{LOGS\}/([^"]+)\.log"', block)
        bench = re.search(r'benchmark:\s*\n\s*f"\{BENCH\}/([^"]+)\.tsv"', block)
        assert log and bench, f"{smk.name}: rule {name} logs or benchmarks outside LOGS and BENCH"
        assert log.group(1) == bench.group(1), f"rule {name}: log {log.group(1)} but benchmark {bench.group(1)}"
        assert re.match(rf"{name}(/|$)", log.group(1)), f"rule {name}: log {log.group(1)} is not under {name}/"


def _rule_scripts_and_envs():
    """(rule, script path, env file) for every rule that runs a script of scripts/, and each env it may get."""
    return [(name, ROOT / "scripts" / script.group(1), env) for _, name, block, envs in _rules()
            if (script := re.search(r'script_path\("([^"]+)"\)', block)) for env in envs]


def _imports(path: Path, top_level_only: bool) -> set:
    """Modules imported by a file: all of them, or only those at module level (what runs on import)."""
    import ast

    tree = ast.parse(path.read_text())
    if top_level_only:  # module level includes `if`/`try` blocks at the top
        nodes = [n for top in tree.body for n in ast.walk(top) if not isinstance(top, (ast.FunctionDef, ast.ClassDef))]
    else:
        nodes = list(ast.walk(tree))
    mods = set()
    for n in nodes:
        if isinstance(n, ast.Import):
            mods |= {a.name for a in n.names}
        elif isinstance(n, ast.ImportFrom):
            mods.add(("." * n.level) + (n.module or ""))
    return mods


def _third_party_imports(script: Path) -> set:
    """Top-level third-party modules a rule's script needs: every import in the script itself, and the
    module-level imports of the synpre modules it reaches (synpre's function-level imports serve other
    rules, e.g. a teacher's calculator, and are not followed)."""
    pkg = ROOT / "scripts" / "synpre"
    seen, todo, found = set(), [(script, False)], set()
    while todo:
        path, top_only = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for mod in _imports(path, top_only):
            if mod.startswith(".") or mod.split(".")[0] == "synpre":
                name = mod.lstrip(".").removeprefix("synpre").lstrip(".").split(".")[0]
                target = pkg / f"{name}.py" if name else pkg / "__init__.py"
                if target.exists():
                    todo.append((target, True))
            elif mod:
                found.add(mod.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and not (ROOT / "scripts" / f"{m}.py").exists()}


@functools.cache
def _env_distributions(env: Path) -> frozenset:
    """Distributions an env provides: its pip pins and everything they require, transitively."""
    from importlib.metadata import PackageNotFoundError, requires

    spec = yaml.safe_load(env.read_text())
    todo = [Requirement(line).name for d in spec["dependencies"] if isinstance(d, dict) for line in d["pip"]]
    have = set()
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in have:
            continue
        have.add(name)
        try:
            reqs = requires(name) or []
        except PackageNotFoundError:
            continue
        for r in map(Requirement, reqs):
            if r.marker is None or r.marker.evaluate({"extra": ""}):
                todo.append(r.name)
    return frozenset(have)


@functools.cache
def _installed_modules() -> dict:
    """{top-level module: distributions} of this environment (importlib's scan of every installed package)."""
    from importlib.metadata import packages_distributions

    return packages_distributions()


@pytest.mark.parametrize("rule, script, env", _rule_scripts_and_envs(), ids=lambda x: getattr(x, "name", str(x)))
def test_every_rule_env_provides_what_its_script_imports(rule, script, env):
    dists = _installed_modules()
    provided = _env_distributions(env)
    missing = {}
    for mod in _third_party_imports(script):
        names = {d.lower().replace("_", "-") for d in dists.get(mod, [])}
        if not names:
            continue  # not installed here: test_requirements covers what is
        if not names & provided:
            missing[mod] = sorted(names)
    assert not missing, f"rule {rule} ({script.name}) imports {missing}, which {env.name} does not provide"


@pytest.mark.parametrize("script", sorted((ROOT / "scripts").glob("*.py")), ids=lambda p: p.name)
def test_every_script_runs_by_hand(script):
    """Each rule's script is a command-line tool: --help works (bench/dag_time.py found one that crashed)."""
    import subprocess

    proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "usage:" in proc.stdout, proc.stderr[-2000:]
