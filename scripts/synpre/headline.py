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

import pandas as pd

from .aggregate import log_axes
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


def headline_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per pre-trained curve point and metric; every value traces to runs.csv rows."""
    means = df.groupby(["teacher", "strategy", "n_synth", "n_real"])[list(METRICS.values())].mean().reset_index()
    direct = means[means["teacher"] == "direct"]
    rows = []
    for _, r in means[means["teacher"] != "direct"].iterrows():
        for name, col in METRICS.items():
            curve = [(float(n), float(e)) for n, e in zip(direct["n_real"], direct[col]) if e > 0]
            if not curve:
                continue
            same = direct.loc[direct["n_real"] == r["n_real"], col]
            n_eq, bound = matching_n(curve, float(r[col]))
            rows.append({
                "teacher": r["teacher"], "strategy": r["strategy"], "n_synth": int(r["n_synth"]),
                "n_real": int(r["n_real"]), "metric": name, "pretrained": float(r[col]),
                "direct": float(same.iloc[0]) if len(same) else float("nan"),
                "cut_percent": 100 * (1 - float(r[col]) / float(same.iloc[0])) if len(same) else float("nan"),
                "direct_n_needed": n_eq, "efficiency_factor": n_eq / float(r["n_real"]), "bound": bound,
                "direct_curve": "; ".join(f"{n:g}:{e:.4g}" for n, e in sorted(curve)),
            })
    return pd.DataFrame(rows)


def headline_markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return ""
    lines = ["## Headline numbers (computed; headline.csv)", "",
             "Cut in RMSE against direct training at the same N_real, and the data-efficiency factor: how many "
             "more real structures direct training needs for the same error (log-log interpolation on the "
             "direct curve; >= and <= mark bounds where the curve does not reach the error).", ""]
    show = table.copy()
    show["factor"] = [f"{b if b != '=' else ''}{f:.1f}x" for f, b in zip(show["efficiency_factor"], show["bound"])]
    show["cut"] = [f"{c:.0f} %" for c in show["cut_percent"]]
    cols = ["teacher", "strategy", "n_synth", "n_real", "metric", "pretrained", "direct", "cut", "factor"]
    return "\n".join(lines) + "\n" + show[cols].round(3).to_markdown(index=False) + "\n"


def efficiency_figure(df: pd.DataFrame, table: pd.DataFrame, out_png: str) -> None:
    """The direct curve with each pre-trained point moved along it to the N_real direct would need."""
    plt = pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
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
