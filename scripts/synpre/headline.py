"""The method's headline numbers, computed from the learning curves rather than read off a plot.

For every pre-trained curve (teacher, strategy, N_synth) and every N_real:
- the cut in energy and force RMSE against direct training at the same N_real (%);
- the data-efficiency factor: the N_real that direct training needs to reach the pre-trained model's
  error, interpolated linearly on the log-log direct learning curve, divided by N_real. Where the
  pre-trained error is below every direct point the factor is only a lower bound (``>=``, the paper's
  "at least 32x"); where it is above every direct point, an upper bound (``<=``).
"""

from __future__ import annotations

import math

import numpy as np

import pandas as pd

from .aggregate import config_types, log_axes, subset_title
from .plotting import pyplot

METRICS = {"energy": "energy_rmse_meV_per_atom", "forces": "forces_rmse_eV_per_A"}


def matching_n(direct: list[tuple[float, float]], target: float) -> tuple[float, str]:
    """N at which the direct curve [(N, error), ...] first comes down to ``target`` (log-log linear)."""
    pts = sorted(direct)
    if target >= pts[0][1]:
        return pts[0][0], "<="
    for (n0, e0), (n1, e1) in zip(pts, pts[1:]):
        if e1 <= target <= e0 and e0 != e1:
            frac = (math.log(target) - math.log(e0)) / (math.log(e1) - math.log(e0))
            return math.exp(math.log(n0) + frac * (math.log(n1) - math.log(n0))), "="
    return pts[-1][0], ">="


def subsets(df: pd.DataFrame) -> list[str]:
    """'all', then every config_type with per-type columns in runs.csv."""
    return ["all"] + config_types(df)


def column(metric: str, subset: str) -> str:
    return METRICS[metric] if subset == "all" else f"{METRICS[metric]}[{subset}]"


def welch_p(a, b) -> float:
    """Two-sided Welch t-test p-value of two seed samples (nan with fewer than 2 seeds on a side)."""
    from scipy.stats import ttest_ind

    a, b = pd.Series(a, dtype=float).dropna(), pd.Series(b, dtype=float).dropna()
    if len(a) < 2 or len(b) < 2 or (a.std() == 0 and b.std() == 0):
        return float("nan")
    return float(ttest_ind(a, b, equal_var=False).pvalue)


def headline_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per pre-trained curve point, metric and test subset (all, then each config_type); every
    value traces to runs.csv rows. ``within_1sigma`` is the issue's no-negative-transfer test: the
    pre-trained mean is at most the direct mean plus the larger of the two seed standard deviations."""
    keys = ["teacher", "strategy", "n_synth", "n_real"]
    models = df[~df["teacher"].isin(["direct", "constant"])]
    direct = df[df["teacher"] == "direct"]
    rows = []
    for subset in subsets(df):
        for name in METRICS:
            col = column(name, subset)
            if col not in df:
                continue
            d = direct.groupby("n_real")[col]
            d_mean, d_std = d.mean(), d.std()
            curve = [(float(n), float(e)) for n, e in d_mean.items() if e > 0]
            if not curve:
                continue
            for (teacher, strategy, n_synth, n_real), g in models.groupby(keys):
                mean, std = float(g[col].mean()), float(g[col].std())
                base = float(d_mean.get(n_real, float("nan")))
                n_eq, bound = matching_n(curve, mean)
                base_std = float(d_std.get(n_real, float("nan")))
                # one seed on a side: no spread from it; one seed on both: no spread at all, so not tested
                sigma = float(np.nanmax([std, base_std, 0.0])) if (std == std or base_std == base_std) else None
                rows.append({
                    "subset": subset, "teacher": teacher, "strategy": strategy, "n_synth": int(n_synth),
                    "n_real": int(n_real), "metric": name, "pretrained": mean, "pretrained_std": std,
                    "direct": base, "direct_std": base_std,
                    "cut_percent": 100 * (1 - mean / base) if base == base else float("nan"),
                    "welch_p": welch_p(g[col], direct.loc[direct["n_real"] == n_real, col]),
                    "within_1sigma": bool(mean <= base + sigma) if base == base and sigma is not None else None,
                    "direct_n_needed": n_eq, "efficiency_factor": n_eq / float(n_real), "bound": bound,
                    "direct_curve": "; ".join(f"{n:g}:{e:.4g}" for n, e in sorted(curve)),
                })
    return pd.DataFrame(rows)


def headline_markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return ""
    lines = ["## Headline numbers (computed; headline.csv)", "",
             "Cut in RMSE against direct training at the same N_real (means over seeds; p: two-sided Welch t-test "
             "over the seeds), and the data-efficiency factor: how many more real structures direct training "
             "needs for the same error (log-log interpolation on the direct curve; >= and <= mark bounds where "
             "the curve does not reach the error). One table for the whole test set, then one per config_type.", ""]
    show = table.copy()
    show["factor"] = [f"{b if b != '=' else ''}{f:.1f}x" for f, b in zip(show["efficiency_factor"], show["bound"])]
    show["cut"] = [f"{c:.0f} %" for c in show["cut_percent"]]
    show["p"] = [f"{p:.2g}" if p == p else "" for p in show["welch_p"]]
    cols = ["teacher", "strategy", "n_synth", "n_real", "metric", "pretrained", "direct", "cut", "p", "factor"]
    for subset, g in show.groupby("subset", sort=False):
        lines += [f"### {'whole test set' if subset == 'all' else subset_title(subset)}", "",
                  g[cols].round(3).to_markdown(index=False), ""]
    worse = table[(table["subset"] == "all") & (table["within_1sigma"] == False)]  # noqa: E712
    if len(worse):
        lines += ["**Negative transfer**: pre-trained worse than direct by more than one standard deviation at "
                  + ", ".join(f"N_real {r.n_real} ({r.teacher}, {r.strategy}, N_synth {r.n_synth}, {r.metric})"
                              for r in worse.itertuples()), ""]
    untested = table[(table["subset"] == "all") & table["within_1sigma"].isna() & (table["direct"] == table["direct"])]
    if len(untested):
        lines += ["Not tested for negative transfer (one seed on each side, so no spread to compare with): "
                  + ", ".join(f"N_real {r.n_real} ({r.teacher}, {r.strategy}, N_synth {r.n_synth}, {r.metric})"
                              for r in untested.itertuples()), ""]
    return "\n".join(lines)


def efficiency_figure(df: pd.DataFrame, table: pd.DataFrame, out_png: str) -> None:
    """The direct curve with each pre-trained point moved along it to the N_real direct would need."""
    plt = pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    table = table[table["subset"] == "all"] if len(table) else table
    for ax, (name, col) in zip(axes, METRICS.items()):
        d = df[df["teacher"] == "direct"].groupby("n_real")[col].mean()
        ax.plot(d.index, d.values, "ks--", label="direct")
        for (teacher, strategy, n_synth), g in table[table["metric"] == name].groupby(["teacher", "strategy", "n_synth"]):
            line, = ax.plot(g["n_real"], g["pretrained"], "o", label=f"{teacher}, {n_synth}, {strategy}")
            for _, r in g.iterrows():
                ax.annotate("", xy=(r["direct_n_needed"], r["pretrained"]), xytext=(r["n_real"], r["pretrained"]),
                            arrowprops=dict(arrowstyle="->", color=line.get_color(), alpha=0.7))
                ax.text(r["direct_n_needed"], r["pretrained"], f" {r['bound'] if r['bound'] != '=' else ''}"
                        f"{r['efficiency_factor']:.1f}x", fontsize=7, color=line.get_color(), va="bottom")
        log_axes(ax, sorted(df["n_real"].unique()),
                 {"energy": "energy RMSE (meV/atom)", "forces": "force RMSE (eV/Å)"}[name])
    axes[0].legend(fontsize=7)
    fig.suptitle("data efficiency: N_real direct training needs for the pre-trained error")
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
