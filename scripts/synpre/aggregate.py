"""All runs of a study -> one tidy table and the paper's learning-curve figure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from .plotting import pyplot

KEYS = ["study", "teacher", "strategy", "n_synth", "n_real", "seed"]
CURVE = ["teacher", "strategy", "n_synth"]  # one learning curve per source, strategy and pre-training size
VALUES = ["energy_rmse_meV_per_atom", "forces_rmse_eV_per_A", "energy_mae_meV_per_atom", "forces_mae_eV_per_A"]


RUN_PATH = re.compile(r"(?P<study>[^/]+)/(?P<teacher>[^/]+)/pretrain-(?P<n_synth>\d+)/finetune-(?P<n_real>\d+)/"
                      r"(?P<strategy>[^/]+)/seed-(?P<seed>\d+)/metrics\.json$")


def missing_run(path: str) -> dict:
    """The row of a run whose metrics.json was never written (its job failed): keys from its path."""
    match = RUN_PATH.search(str(path))
    keys = match.groupdict() if match else {}
    for k in ("n_synth", "n_real", "seed"):
        if k in keys:
            keys[k] = int(keys[k])
    return {k: keys.get(k) for k in KEYS} | {v: float("nan") for v in VALUES} | {
        "status": "missing", "metrics_file": str(path)}


def runs_table(metric_files: list[str]) -> pd.DataFrame:
    """One row per run. A run without its metrics.json (a failed job, aggregated with --allow-missing)
    stays in the table with status 'missing' and no numbers, instead of silently dropping out."""
    rows = []
    for path in metric_files:
        if not Path(path).exists():
            rows.append(missing_run(path))
            continue
        m = json.loads(Path(path).read_text())
        row = {k: m.get(k) for k in KEYS + VALUES} | {"status": "ok"}
        row["strategy"] = row["strategy"] or ("scratch" if row["teacher"] == "direct" else "full")
        row.update(md_steps_per_second=m.get("md_steps_per_second"),
                   n_test=m.get("n_structures"), epochs=m.get("training", {}).get("epochs"),
                   best_epoch=m.get("training", {}).get("best_epoch"),
                   train_seconds=m.get("training", {}).get("wall_seconds"), metrics_file=str(path))
        for ct, vals in ((m.get("per_config_type") or {}) | (m.get("per_held_out") or {})).items():
            row[f"energy_rmse_meV_per_atom[{ct}]"] = vals["energy_rmse_meV_per_atom"]
            row[f"forces_rmse_eV_per_A[{ct}]"] = vals["forces_rmse_eV_per_A"]
        rows.append(row)
    df = pd.DataFrame(rows, columns=None if rows else KEYS + VALUES + ["status", "metrics_file"])
    return df.sort_values(["teacher", "strategy", "n_synth", "n_real", "seed"]).reset_index(drop=True)


def with_md_speed(runs: pd.DataFrame, files: list[str]) -> pd.DataFrame:
    """runs.csv's column md_steps_per_second: each model's md_speed.json (rule md_speed), matched by its keys."""
    if not files:
        return runs
    speed = pd.DataFrame([json.loads(Path(f).read_text()) for f in files])
    speed = speed[["teacher", "strategy", "n_synth", "n_real", "seed", "md_steps_per_second"]]
    runs = runs.drop(columns=["md_steps_per_second"], errors="ignore").merge(speed, how="left", on=KEYS[1:])
    return runs


FORGETTING = {"energy_rmse_meV_per_atom": "synthetic_energy_rmse_meV_per_atom",
              "forces_rmse_eV_per_A": "synthetic_forces_rmse_eV_per_A"}


def forgetting_table(files: list[str]) -> pd.DataFrame:
    """The forgetting.json files (rule forgetting): one row per model on the synthetic held-out set, the
    pre-trained models with strategy 'pretrained' and n_real 0."""
    rows = []
    for path in files:
        m = json.loads(Path(path).read_text())
        rows.append({k: m.get(k) for k in KEYS[1:]} | {new: m.get(old) for old, new in FORGETTING.items()}
                    | {"forgetting_file": str(path)})
    return pd.DataFrame(rows)


def with_forgetting(runs: pd.DataFrame, forgetting: pd.DataFrame) -> pd.DataFrame:
    """runs.csv's columns synthetic_*_rmse: each fine-tuned model's errors on the synthetic held-out set."""
    if forgetting.empty:
        return runs
    cols = KEYS[1:] + list(FORGETTING.values())
    return runs.merge(forgetting[forgetting["strategy"] != "pretrained"][cols], how="left", on=KEYS[1:])


def forgetting_markdown(forgetting: pd.DataFrame) -> str:
    """Force and energy errors on the synthetic held-out set per strategy and N_real, beside the pre-trained
    model's (N_real 0): what fine-tuning forgot, and what replay kept."""
    if forgetting.empty:
        return ""
    parts = ["## Forgetting: the synthetic held-out set", "",
             "Each model on its teacher's synthetic validation set (never trained on; it chose pre-training's best "
             "epoch), energies with the mean per-atom offset removed (rule forgetting). Row N_real 0 is the "
             "pre-trained model before fine-tuning. Mean ± std over seeds.", ""]
    for old, title in (("synthetic_forces_rmse_eV_per_A", "force RMSE (eV/Å)"),
                       ("synthetic_energy_rmse_meV_per_atom", "energy RMSE (meV/atom)")):
        digits = 3 if "forces" in old else 1
        for (teacher, n_synth), g in forgetting.groupby(["teacher", "n_synth"]):
            stats = g.groupby(["n_real", "strategy"])[old].agg(["mean", "std"])
            cells = stats.apply(lambda r: f"{r['mean']:.{digits}f}" + (
                "" if pd.isna(r["std"]) else f" ± {r['std']:.{digits}f}"), axis=1).unstack("strategy")
            cells.index.name = "N_real"
            parts += [f"### {teacher}, {n_synth} synthetic: {title}", "", cells.fillna("").to_markdown(), ""]
    return "\n".join(parts)


def curves_table(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation and number of seeds of every metric per point of every learning curve."""
    stats = df.groupby(CURVE + ["n_real"])[VALUES].agg(["mean", "std", "count"])
    stats.columns = [f"{col}_{stat}" for col, stat in stats.columns]
    counts = [c for c in stats.columns if c.endswith("_count")]
    stats = stats.drop(columns=counts[1:]).rename(columns={counts[0]: "n_seeds"})
    return stats.reset_index()


def curve_label(teacher: str, n_synth: int, strategy: str = "full", show_strategy: bool = False) -> str:
    if teacher in ("direct", "constant"):
        return teacher
    if teacher == "zero-shot":  # a teacher used as it is (rule zero_shot): its name is in `strategy`
        return f"{strategy} zero-shot"
    if teacher == "universal-ft":  # a universal teacher fine-tuned on N_real (rule universal_finetune)
        return f"{strategy} fine-tuned"
    return f"{teacher}, {n_synth} synthetic" + (f", {strategy}" if show_strategy else "")


def _show_strategy(df: pd.DataFrame) -> bool:
    return df.loc[df["teacher"] != "direct", "strategy"].nunique() > 1


def log_axes(ax, xticks, ylabel: str) -> None:
    """Log-log axes with plain numbers (not 4x10^2); y spans little, so its minor ticks are labelled."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(xticks)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.set_xlabel("number of real training structures")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)


def learning_curves(df: pd.DataFrame, out_png: str, title: str = "", constant: pd.DataFrame | None = None) -> None:
    """Energy and force RMSE vs N_real on log-log axes, one line per (teacher, N_synth) plus direct and the
    baselines in ``constant``: the constant predictor (grey, dotted) and zero-shot teachers (dash-dotted); mean
    over seeds, error bars = standard deviation."""
    plt = pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    if constant is not None and len(constant):  # the baselines: constant predictor, zero-shot and fine-tuned teachers
        for (teacher, strategy), c in constant.sort_values("n_real").groupby(["teacher", "strategy"]):
            style = (dict(color="grey", ls=":", marker=".", label="constant predictor") if teacher == "constant"
                     else dict(ls="-.", marker="^", label=curve_label(teacher, 0, strategy)))
            for ax, col in zip(axes, VALUES[:2]):
                mean = c.groupby("n_real")[col].mean()  # a fine-tuned baseline has seeds
                ax.plot(mean.index, mean.values, **style)
    stats = df.groupby(CURVE + ["n_real"])[VALUES[:2]].agg(["mean", "std"]).reset_index()
    show = _show_strategy(df)
    for (teacher, strategy, n_synth), g in stats.groupby(CURVE):
        style = dict(color="black", ls="--", marker="s") if teacher == "direct" else dict(marker="o")
        for ax, col in zip(axes, VALUES[:2]):
            ax.errorbar(g["n_real"], g[(col, "mean")], yerr=g[(col, "std")].fillna(0), capsize=3,
                        label=curve_label(teacher, int(n_synth), strategy, show), **style)
    for ax, ylabel in zip(axes, ["energy RMSE (meV/atom)", "force RMSE (eV/Å)"]):
        log_axes(ax, sorted(df["n_real"].unique()), ylabel)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.savefig(out_png, dpi=120)
    plt.close(fig)


def nsynth_figure(df: pd.DataFrame, out_png: str, title: str = "") -> None:
    """Test errors against the number of synthetic pre-training structures, one colour per N_real; direct
    training (no pre-training) is drawn as a dashed line of the same colour. Error bars: std over seeds."""
    plt = pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    pre = df[~df["teacher"].isin(["direct", "constant"])]
    direct = df[df["teacher"] == "direct"].groupby("n_real")[VALUES[:2]].mean()
    for i, (n_real, g) in enumerate(pre.groupby("n_real")):
        colour = f"C{i}"
        for (teacher, strategy), h in g.groupby(["teacher", "strategy"]):
            stats = h.groupby("n_synth")[VALUES[:2]].agg(["mean", "std"])
            for ax, col in zip(axes, VALUES[:2]):
                ax.errorbar(stats.index, stats[(col, "mean")], yerr=stats[(col, "std")].fillna(0), capsize=3,
                            marker="o", color=colour, label=f"N_real {n_real}, {teacher}, {strategy}")
        for ax, col in zip(axes, VALUES[:2]):
            if n_real in direct.index:
                ax.axhline(direct.loc[n_real, col], color=colour, ls="--", lw=1, label=f"N_real {n_real}, direct")
    for ax, ylabel in zip(axes, ["energy RMSE (meV/atom)", "force RMSE (eV/Å)"]):
        ax.set_xscale("log")
        ax.set_xlabel("number of synthetic pre-training structures")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title or "pre-training size")
    fig.savefig(out_png, dpi=120)
    plt.close(fig)


def teachers_table(report_files: list[str]) -> pd.DataFrame:
    rows = []
    for path in report_files:
        r = json.loads(Path(path).read_text())
        rows.append({"teacher": r["teacher"], "kind": r["kind"],
                     "energy_rmse_meV_per_atom": r["energy_rmse_meV_per_atom"],
                     "energy_offset_eV_per_atom": r["energy_offset_eV_per_atom"],
                     "forces_rmse_eV_per_A": r["forces_rmse_eV_per_A"],
                     "seconds_per_structure": r["seconds_per_structure"], "report_file": str(path)})
    # with alchemy no teacher can be scored on the real data: the table is written, empty
    return pd.DataFrame(rows, columns=["teacher", "kind", "energy_rmse_meV_per_atom", "energy_offset_eV_per_atom",
                                       "forces_rmse_eV_per_A", "seconds_per_structure", "report_file"])


def interval95(values) -> tuple[float, float, float, float]:
    """Mean, standard deviation and the 95 % Student-t interval of the mean over seeds (nan with one)."""
    import numpy as np
    from scipy.stats import t

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    mean = float(v.mean()) if len(v) else float("nan")
    if len(v) < 2:
        return mean, float("nan"), float("nan"), float("nan")
    std = float(v.std(ddof=1))
    half = float(t.ppf(0.975, len(v) - 1)) * std / len(v) ** 0.5
    return mean, std, mean - half, mean + half


def cell(values, digits: int) -> str:
    """One table cell: mean ± std [95 % interval of the mean] over seeds; the mean alone for one seed."""
    mean, std, lo, hi = interval95(values)
    if std != std:  # one seed (or a deterministic baseline)
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def paper_table(df: pd.DataFrame, value: str, digits: int, constant: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's table layout: rows N_real, columns the constant predictor, direct and each
    (teacher, strategy, N_synth); mean ± std [95 % interval] over seeds."""
    out = {}
    show = _show_strategy(df)
    both = pd.concat([df, constant]) if constant is not None and value in constant else df
    for (teacher, strategy, n_synth), g in both.groupby(CURVE):
        if value not in g or g[value].isna().all():
            continue
        col = curve_label(teacher, int(n_synth), strategy, show)
        out[col] = {n: cell(v, digits) for n, v in g.groupby("n_real")[value]}
    table = pd.DataFrame(out)
    first = [c for c in table.columns if c == "constant" or c.endswith((" zero-shot", " fine-tuned"))] + (
        ["direct"] if "direct" in table.columns else [])
    # the rest in groupby order: teacher, strategy, then N_synth by number (sorted labels put 50 after 400)
    table = table[first + [c for c in table.columns if c not in first]]
    table.index.name = "N_real"
    return table


def subset_title(subset: str) -> str:
    """A heading for a per-subset column group: a config_type, or a held-out region (metrics.held_out_regions)."""
    if subset.startswith("held-out "):
        return f"{subset} (only ever tested: reference.split.test_where)"
    return subset if subset == "in-distribution" else f"config_type {subset}"


def config_types(df: pd.DataFrame) -> list[str]:
    """The test set's config_types, from the per-type columns of runs.csv."""
    return sorted(c[len("energy_rmse_meV_per_atom["):-1] for c in df.columns if c.startswith("energy_rmse_meV_per_atom["))


def mark_against_constant(runs: pd.DataFrame, constant: pd.DataFrame) -> pd.DataFrame:
    """runs.csv's column beats_constant: the model's test energy RMSE is below the constant predictor's
    on the same N_real structures (empty where no constant baseline was computed)."""
    constant = constant[constant["teacher"] == "constant"] if len(constant) else constant  # not the zero-shot rows
    floor = constant.set_index("n_real")["energy_rmse_meV_per_atom"] if len(constant) else pd.Series(dtype=float)
    runs = runs.copy()
    runs["constant_energy_rmse_meV_per_atom"] = runs["n_real"].map(floor)
    runs["beats_constant"] = [None if c != c or e != e else bool(e < c)
                              for e, c in zip(runs["energy_rmse_meV_per_atom"], runs["constant_energy_rmse_meV_per_atom"])]
    return runs


def constant_markdown(df: pd.DataFrame) -> str:
    """A warning naming every model that does not beat the constant predictor: a baseline that learnt
    nothing about the energy makes every cut against it meaningless."""
    if "beats_constant" not in df:
        return ""
    worse = df[df["beats_constant"] == False]  # noqa: E712 (None: not compared)
    if worse.empty:
        return ("Every model beats the constant predictor (mean per-atom energy of its N_real structures, zero "
                "forces) in test energy RMSE.\n")
    lines = [f"**{len(worse)} of {len(df)} models do not beat the constant predictor in test energy RMSE** "
             "(runs.csv: beats_constant); cuts against them are cuts against a model that learnt no energy:", ""]
    lines += [f"- {r.teacher}, {r.strategy}, N_synth {r.n_synth}, N_real {r.n_real}, seed {r.seed}: "
              f"{r.energy_rmse_meV_per_atom:.1f} vs {r.constant_energy_rmse_meV_per_atom:.1f} meV/atom"
              for r in worse.itertuples()]
    return "\n".join(lines) + "\n"


def missing_markdown(df: pd.DataFrame) -> str:
    missing = df[df["status"] == "missing"]
    if missing.empty:
        return ""
    lines = [f"**Incomplete: {len(missing)} of {len(df)} runs are missing** (their jobs failed; see the logs, "
             "rerun the study to retry them). Every table and figure below leaves them out:", ""]
    lines += [f"- `{f}`" for f in missing["metrics_file"]]
    return "\n".join(lines) + "\n"


MD_SPEED_NOTE = ("The cost beside the accuracy: Langevin MD steps per second of each model from the first real "
                 "test structure, one job's threads, after a warm-up (config md_speed; trained models: rule "
                 "md_speed, zero-shot teachers: rule zero_shot). The constant predictor has no MD.")


def summary_markdown(df: pd.DataFrame, teachers: pd.DataFrame | None, missing: str = "",
                     constant: pd.DataFrame | None = None) -> str:
    parts = ["# Study summary", ""] + ([missing] if missing else []) + [
        "Real test set. Each cell: mean ± std [95 % Student-t interval of the mean] over seeds. `constant` is "
        "the constant predictor: the mean per-atom energy of the same N_real structures, zero forces. Every "
        "number comes from the metrics.json files listed in runs.csv.", ""]
    if constant is not None and len(constant) and (constant["teacher"] == "zero-shot").any():
        parts += ["`<teacher> zero-shot` is that teacher (a universal potential) used as it is: the N_real "
                  "structures only fix its per-element energy offset to the real data's reference.", ""]
    if constant is not None and len(constant) and (constant["teacher"] == "universal-ft").any():
        parts += ["`<teacher> fine-tuned` is that universal potential fine-tuned on the same N_real structures "
                  "(sevenn's own training, best epoch by validation forces; rule universal_finetune).", ""]
    warning = constant_markdown(df)
    parts += ([warning] if warning else []) + [
        "## Per-atom energy RMSE (meV/atom)", "",
        paper_table(df, "energy_rmse_meV_per_atom", 1, constant).to_markdown(), "",
        "## Force component RMSE (eV/Å)", "", paper_table(df, "forces_rmse_eV_per_A", 3, constant).to_markdown()]
    if "md_steps_per_second" in df and df["md_steps_per_second"].notna().any():
        parts += ["", "## MD speed (steps/s)", "", MD_SPEED_NOTE, "",
                  paper_table(df, "md_steps_per_second", 2, constant).to_markdown()]
    for ct in config_types(df):
        e, f = f"energy_rmse_meV_per_atom[{ct}]", f"forces_rmse_eV_per_A[{ct}]"
        parts += ["", f"## {subset_title(ct)}: energy RMSE (meV/atom)", "", paper_table(df, e, 1, constant).to_markdown(),
                  "", f"## {subset_title(ct)}: force RMSE (eV/Å)", "", paper_table(df, f, 3, constant).to_markdown()]
    if teachers is not None and len(teachers):
        parts += ["", "## Teachers on the real test set (mean per-atom offset removed)", "",
                  teachers.drop(columns=["report_file"]).round(4).to_markdown(index=False)]
    return "\n".join(parts) + "\n"


PRETRAIN_PATH = re.compile(r"(?P<teacher>[^/]+)/pretrain-(?P<n_synth>\d+)/training\.json$")
STOPS = {"early_stopping": "early stopping (converged)", "max_steps": "step budget", "max_epochs": "epoch cap"}


def pretraining_table(files: list[str]) -> pd.DataFrame:
    """One row per pre-trained model (its training.json): how long it trained, what ended it and its
    error on the synthetic validation set, so a reader sees whether pre-training converged."""
    rows = []
    for path in files:
        t = json.loads(Path(path).read_text())
        match = PRETRAIN_PATH.search(str(path))
        rows.append({"teacher": match["teacher"] if match else "", "n_synth": int(match["n_synth"]) if match else None,
                     "epochs": t.get("epochs"), "steps": t.get("steps"), "best_epoch": t.get("best_epoch"),
                     # training.json files written before the field existed say nothing: not guessed here
                     "stopped_by": STOPS.get(t.get("stopped_by"), "not recorded"),
                     "val_energy_meV_per_atom": t.get("best_val_per_atom_energy_rmse_meV"),
                     "val_forces_eV_per_A": t.get("best_val_forces_rmse"), "train_seconds": t.get("wall_seconds"),
                     "training_file": str(path)})
    cols = ["teacher", "n_synth", "epochs", "steps", "best_epoch", "stopped_by", "val_energy_meV_per_atom",
            "val_forces_eV_per_A", "train_seconds", "training_file"]
    return pd.DataFrame(rows, columns=cols).sort_values(["teacher", "n_synth"]).reset_index(drop=True)


def pretraining_markdown(table: pd.DataFrame) -> str:
    """The pre-training table of summary.md; a model cut by a budget with its best epoch last was still
    improving, which a reader must know before reading the N_synth trend."""
    if table.empty:
        return ""
    unfinished = table[(table["stopped_by"] != STOPS["early_stopping"]) & (table["best_epoch"] == table["epochs"] - 1)]
    note = ("" if unfinished.empty else
            f"\n**Not converged**: {len(unfinished)} of {len(table)} pre-trained models ended without early stopping, "
            "their best epoch the last (still improving on the synthetic validation set).\n")
    return ("## Pre-training (synthetic validation set)\n\nBest epoch's validation errors on the teacher's held-out "
            "synthetic structures; stopped_by: early stopping (no improvement beyond min_delta within the "
            "patience), or a budget (pretraining.max_steps, max_epochs).\n\n"
            + table.drop(columns=["training_file"]).round(3).to_markdown(index=False) + "\n" + note)


def dimer_table(files: list[str]) -> pd.DataFrame:
    """Short-range metrics (synpre.dimer.dimer_metrics) of every dimer.csv: one row per model or teacher
    and element pair."""
    from .dimer import dimer_metrics

    rows = []
    for path in files:
        df = pd.read_csv(path)
        keys = [k for k in KEYS if k in df]
        for group, g in df.groupby(keys + ["pair"], dropna=False):
            g = g.sort_values("r")
            rows.append(dict(zip(keys + ["pair"], group)) | dimer_metrics(g["r"], g["energy_eV"])
                        | {"dimer_file": str(path)})
    return pd.DataFrame(rows)


def dimer_markdown(dimers: pd.DataFrame) -> str:
    """Dimer metrics per curve (mean over seeds), teachers first: a model whose wall is low, or that has
    more than one minimum or force sign change, is unphysical at short range whatever its RMSE."""
    if dimers.empty:
        return ""
    cols = [c for c in ("teacher", "strategy", "n_synth", "n_real", "pair") if c in dimers]
    table = dimers.groupby(cols, dropna=False).agg(
        models=("wall_eV", "size"), wall_eV=("wall_eV", "mean"), min_wall_eV=("wall_eV", "min"),
        n_minima=("n_minima", "mean"), force_sign_flips=("force_sign_flips", "mean"),
        r_min_A=("r_min_A", "mean")).reset_index()
    table = table.sort_values("teacher", key=lambda t: ~t.astype(str).str.startswith("teacher "), kind="stable")
    return ("## Dimer curves: short-range physics (dimer.csv)\n\nwall_eV: E(0.6 Å) − E_min (a repulsive wall "
            "is tens of eV); n_minima and force_sign_flips: 1 each for a physical pair (means over seeds).\n\n"
            + table.round(3).to_markdown(index=False) + "\n")


def dimer_figure(files: list[str], out_png: str) -> None:
    """Dimer curves of every model (thin, coloured by source) and teacher (thick dashed), per pair."""
    plt = pyplot()

    df = pd.concat([pd.read_csv(f) for f in files], ignore_index=True) if files else pd.DataFrame(
        columns=["pair", "r", "energy_eV", "teacher"])
    pairs = sorted(df["pair"].unique()) or ["none"]
    fig, axes = plt.subplots(1, len(pairs), figsize=(5 * len(pairs), 3.8), squeeze=False, constrained_layout=True)
    colours = {}
    for ax, pair in zip(axes[0], pairs):
        sub = df[df["pair"] == pair]
        for keys, g in sub.groupby(["teacher"] + [c for c in ("strategy", "n_synth", "n_real", "seed") if c in sub]
                                   , dropna=False):
            source = str(keys[0])
            if source.startswith("teacher "):
                ax.plot(g["r"], g["energy_eV"], "--", lw=2.2, label=source)
                continue
            colour = colours.setdefault(source, "black" if source == "direct" else f"C{len(colours)}")
            label = source if not any(l.get_label() == source for l in ax.lines) else None
            ax.plot(g["r"], g["energy_eV"], color=colour, lw=0.8, alpha=0.6, label=label)
        ax.set_ylim(-10, 20)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xlabel("distance (Å)")
        ax.set_ylabel("E(r) - E(6 Å) (eV)")
        ax.set_title(f"{pair} dimer")
        ax.legend(fontsize=7)
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
