"""Survival statistics of the stability MD: Kaplan-Meier curves, censored medians, the log-rank test and
Wilson intervals, and the stability report built from them (stability.csv, survival.csv, survival.png,
rdf.png, stability.md; rule stability_report).

Each stability run is one observation: its time to the first alarm, or censored at the end of the
protocol when it survived. Runs are grouped into arms per hold temperature and N_real: direct training,
and each pre-trained curve (teacher, N_synth, strategy), pooled over seeds and replicas. The teacher's own
runs are an arm of their own per temperature (they calibrate the alarms, so they survive by construction
unless their MD produced non-finite values).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .plotting import pyplot

KEYS = ["study", "teacher", "strategy", "n_synth", "n_real", "seed"]
Z95 = 1.959963984540054


def _as_arrays(times, events):
    t = np.round(np.asarray(times, dtype=float), 9)  # alarm times are step x dt: equal steps, equal times
    e = np.asarray(events, dtype=bool)
    if t.shape != e.shape:
        raise ValueError(f"{len(t)} times but {len(e)} event flags")
    return t, e


def kaplan_meier(times, events) -> pd.DataFrame:
    """The Kaplan-Meier estimate: one row per distinct event time (time, at_risk, events, survival),
    S(t) = prod over event times u <= t of (1 - d_u / n_u). ``events`` is True for a run that ended on an
    alarm at ``times`` and False for one censored there (it survived the protocol)."""
    t, e = _as_arrays(times, events)
    rows, s = [], 1.0
    for u in np.unique(t[e]):
        n, d = int((t >= u).sum()), int(((t == u) & e).sum())
        s *= 1.0 - d / n
        rows.append({"time": float(u), "at_risk": n, "events": d, "survival": s})
    return pd.DataFrame(rows, columns=["time", "at_risk", "events", "survival"])


def km_median(times, events) -> float | None:
    """The censored median time to failure: the first time the Kaplan-Meier curve reaches 0.5 or below;
    None when it never does (more than half of the runs outlive the last event)."""
    km = kaplan_meier(times, events)
    below = km[km["survival"] <= 0.5 + 1e-12]
    return float(below["time"].iloc[0]) if len(below) else None


def logrank(times1, events1, times2, events2) -> dict:
    """The two-sample log-rank (Mantel-Cox) test: at every distinct event time u the events of group 1
    are compared with their expectation d_u n1_u / n_u under equal hazards, with the hypergeometric
    variance d_u (n1_u / n_u)(1 - n1_u / n_u)(n_u - d_u) / (n_u - 1); chi2 = (O1 - E1)^2 / V on 1 degree of
    freedom. ``p`` is NaN when no run of either group had an event (nothing to compare)."""
    from scipy.stats import chi2 as chi2_dist

    t1, e1 = _as_arrays(times1, events1)
    t2, e2 = _as_arrays(times2, events2)
    t, e = np.concatenate([t1, t2]), np.concatenate([e1, e2])
    expected1 = variance = 0.0
    for u in np.unique(t[e]):
        n1, n2 = int((t1 >= u).sum()), int((t2 >= u).sum())
        d = int(((t1 == u) & e1).sum() + ((t2 == u) & e2).sum())
        n = n1 + n2
        expected1 += d * n1 / n
        if n > 1:
            variance += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    observed1, observed2 = int(e1.sum()), int(e2.sum())
    expected2 = observed1 + observed2 - expected1
    if variance <= 0:
        stat, p = float("nan"), float("nan")
    else:
        stat = (observed1 - expected1) ** 2 / variance
        p = float(chi2_dist.sf(stat, 1))
    return {"chi2": stat, "p": p, "observed1": observed1, "expected1": expected1, "observed2": observed2,
            "expected2": expected2, "variance": variance}


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion k / n (95 % by default); (nan, nan) for n = 0."""
    if n == 0:
        return float("nan"), float("nan")
    phat, z2 = k / n, z * z
    centre = (phat + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * np.sqrt(phat * (1 - phat) / n + z2 / (4 * n * n))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


# ---- the stability report ------------------------------------------------------------------------------

RUN_COLUMNS = KEYS + ["arm", "temperature_K", "replica", "start_index", "survived", "alarm", "time_to_failure_ps",
                      "failed_in", "simulated_ps", "ramp_ps", "protocol_ps", "max_force", "min_distance", "max_energy_drift",
                      "alarm_max_force", "alarm_min_distance", "alarm_energy_band", "steps_per_second", "rdf_error",
                      "stability_file"]


def arm_label(teacher, n_synth, strategy, show_strategy: bool) -> str:
    if str(teacher).startswith("teacher ") or teacher == "direct":
        return str(teacher)
    return f"{teacher}, {int(n_synth)} synthetic" + (f", {strategy}" if show_strategy else "")


def stability_table(files: list[str], rdf_files: list[str] = (), teacher_files: list[str] = ()) -> pd.DataFrame:
    """One row per stability run (every replica of every stability-<T>K.json, models then teachers), with
    the alarm thresholds it ran under and the RDF error of its model's hold at that temperature."""
    rdf = {}
    for f in rdf_files:
        r = json.loads(Path(f).read_text())
        rdf[(str(Path(f).parent), float(r.get("temperature_K", float("nan"))))] = r.get("rdf_error")
    rows = []
    for path in list(files) + list(teacher_files):
        r = json.loads(Path(path).read_text())
        alarms = r.get("alarms") or {}
        for run in r["runs"]:
            x = run.get("extremes") or {}
            rows.append({k: r.get(k) for k in KEYS} | {
                "temperature_K": float(r["temperature_K"]), "replica": run["replica"],
                "start_index": run.get("start_index"), "survived": bool(run["survived"]), "alarm": run["alarm"],
                "time_to_failure_ps": run["time_to_failure_ps"], "failed_in": run.get("failed_in"),
                "simulated_ps": run["simulated_ps"], "ramp_ps": run.get("ramp_ps"), "protocol_ps": run["protocol_ps"],
                "max_force": x.get("max_force"), "min_distance": x.get("min_distance"),
                "max_energy_drift": x.get("max_energy_drift"), "alarm_max_force": alarms.get("max_force"),
                "alarm_min_distance": alarms.get("min_distance"), "alarm_energy_band": alarms.get("energy_band"),
                "steps_per_second": run.get("steps_per_second"),
                "rdf_error": rdf.get((str(Path(path).parent), float(r["temperature_K"]))), "stability_file": str(path)})
    table = pd.DataFrame(rows, columns=RUN_COLUMNS)
    if len(table):
        models = ~table["teacher"].astype(str).str.startswith("teacher ") & (table["teacher"] != "direct")
        show = table.loc[models, "strategy"].nunique() > 1
        table["arm"] = [arm_label(t, n, s, show) for t, n, s in zip(table["teacher"], table["n_synth"], table["strategy"])]
    return table


def _alarm_counts(g: pd.DataFrame) -> str:
    counts = g.loc[~g["survived"], "alarm"].astype(str).str.split(" ").str[0].value_counts()
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "none"


def survival_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per hold temperature, N_real and arm: runs, survivors, survival fraction with its 95 % Wilson
    interval, the censored median time to failure (None: not reached), the alarms that ended runs, and for
    every arm but direct the log-rank test against direct at the same temperature and N_real."""
    cols = ["temperature_K", "n_real", "arm", "runs", "models", "survived", "fraction", "fraction_lo", "fraction_hi",
            "median_ttf_ps", "protocol_ps", "alarms", "logrank_chi2", "logrank_p", "direction"]
    if table.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    t = table.assign(event=~table["survived"], time=np.where(table["survived"], table["simulated_ps"],
                                                             table["time_to_failure_ps"].astype(float)))
    for (temp, n_real, arm), g in t.groupby(["temperature_K", t["n_real"].fillna(-1), "arm"], sort=True):
        k, n = int(g["survived"].sum()), len(g)
        lo, hi = wilson(k, n)
        row = {"temperature_K": temp, "n_real": None if n_real == -1 else int(n_real), "arm": arm, "runs": n,
               "models": g[["teacher", "strategy", "n_synth", "seed"]].astype(str).drop_duplicates().shape[0],
               "survived": k, "fraction": k / n, "fraction_lo": lo, "fraction_hi": hi,
               "median_ttf_ps": km_median(g["time"], g["event"]), "protocol_ps": float(g["protocol_ps"].max()),
               "alarms": _alarm_counts(g), "logrank_chi2": None, "logrank_p": None, "direction": None}
        direct = t[(t["temperature_K"] == temp) & (t["n_real"] == n_real) & (t["arm"] == "direct")]
        if arm != "direct" and n_real != -1 and len(direct):
            test = logrank(g["time"], g["event"], direct["time"], direct["event"])
            row.update(logrank_chi2=test["chi2"], logrank_p=test["p"],
                       direction=None if test["observed1"] == test["expected1"] else
                       ("fewer alarms" if test["observed1"] < test["expected1"] else "more alarms"))
        rows.append(row)
    out = pd.DataFrame(rows, columns=cols)
    order = out["arm"].map(lambda a: 0 if a == "direct" else (2 if a.startswith("teacher ") else 1))
    return out.assign(_o=order).sort_values(["temperature_K", "_o", "n_real", "arm"]).drop(columns="_o").reset_index(drop=True)


def _fmt_median(m, end) -> str:
    return f"> {end:g}" if m is None or m != m else f"{m:.2f}"


def _fmt_p(p) -> str:
    if p is None or p != p:
        return "—" if p is None else "n/a (no alarms)"
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def thresholds_table(teacher_files: list[str], model_files: list[str]) -> pd.DataFrame:
    """The alarm thresholds of each hold temperature (from the teacher's calibrating MD, or the first
    model's record where no teacher calibrates), with the teacher's own check."""
    rows, seen = [], set()
    for path in list(teacher_files) + list(model_files):
        r = json.loads(Path(path).read_text())
        temp = float(r["temperature_K"])
        if temp in seen:
            continue
        seen.add(temp)
        a, loo = r.get("alarms") or {}, r.get("leave_one_out") or {}
        src = a.get("sources", {})
        rows.append({"temperature_K": temp, "energy_band_eV_per_atom": a.get("energy_band"),
                     "band_from": src.get("energy_band"), "min_distance_A": a.get("min_distance"),
                     "distance_from": src.get("min_distance"), "max_force_eV_per_A": a.get("max_force"),
                     "force_from": src.get("max_force"),
                     "teacher_runs_alarmed": (f"{r['own_alarms']} of {r['replicas']}" if r.get("calibrating") else "—"),
                     "leave_one_out": (f"{loo['would_alarm']} of {loo['runs']}" if loo else "—")})
    return pd.DataFrame(rows)


def survival_markdown(table: pd.DataFrame, survival: pd.DataFrame, thresholds: pd.DataFrame,
                      settings: dict | None, disabled: bool = False) -> str:
    """stability.md: the protocol, its calibrated alarms, the survival table and a plain verdict."""
    head = "## MD stability (stability.csv, survival.csv, survival.png)\n\n"
    if disabled:
        return head + "Not run: `stability.enabled` is false in this study's config.\n"
    if table.empty:
        return head + "No stability runs.\n"
    s = settings or {}
    models = table[~table["arm"].str.startswith("teacher ")]
    lines = [head + (
        f"Protocol: {s.get('replicas')} replicas per model and hold temperature, each from a different quenched "
        f"test cell (start: `{json.dumps(s.get('start'))}`) with its own velocity seed; {s.get('t_start')} K → T at "
        f"{s.get('ramp_rate_K_per_ps')} K/ps, then {s.get('hold_ps')} ps at T (Langevin, {s.get('timestep_fs')} fs). "
        f"A run fails at its first alarm; survivors are censored at the end of the protocol. Arms pool seeds "
        f"and replicas ({models['stability_file'].nunique() // max(table['temperature_K'].nunique(), 1)} models, "
        f"{len(models)} model runs)."), ""]
    if len(thresholds):
        lines += ["Alarm thresholds per hold temperature (calibrated: the teacher's own MD under the same protocol and "
                  "the real training cells of the start type sit inside them by `alarm_margin`; leave-one-out: teacher "
                  "runs that would fire thresholds calibrated without them):", "",
                  thresholds.round(3).to_markdown(index=False), ""]
    shown = survival.assign(
        survived=[f"{k}/{n}" for k, n in zip(survival["survived"], survival["runs"])],
        fraction=[f"{f:.0%} [{lo:.0%}, {hi:.0%}]" for f, lo, hi in zip(survival["fraction"], survival["fraction_lo"],
                                                                       survival["fraction_hi"])],
        median_ttf_ps=[_fmt_median(m, e) for m, e in zip(survival["median_ttf_ps"], survival["protocol_ps"])],
        logrank_p=[("—" if a == "direct" or a.startswith("teacher ") else _fmt_p(p) + (f" ({d})" if d else ""))
                   for a, p, d in zip(survival["arm"], survival["logrank_p"], survival["direction"])],
        n_real=["—" if n is None or n != n else int(n) for n in survival["n_real"]])
    shown = shown[["temperature_K", "n_real", "arm", "survived", "fraction", "median_ttf_ps", "logrank_p", "alarms"]]
    shown.columns = ["T (K)", "N_real", "arm", "survived", "survival [95 % Wilson]", "median TTF (ps)",
                     "log-rank p vs direct", "alarms"]
    lines += ["Survival per arm: fraction of runs without an alarm over the whole protocol [95 % Wilson interval], "
              "the censored (Kaplan–Meier) median time to failure (`> end`: more than half survive), and the "
              "two-sided log-rank p against direct training at the same T and N_real:", "",
              shown.to_markdown(index=False), ""]
    pre = survival[~survival["arm"].isin(["direct"]) & ~survival["arm"].str.startswith("teacher ")]
    good = pre[(pre["fraction"] >= 0.8) & (pre["logrank_p"].astype(float) < 0.05) & (pre["direction"] == "fewer alarms")]
    if len(pre):
        verdict = (f"**Verdict: {len(good)} of {len(pre)} pre-trained arms (per T and N_real) survive in ≥ 80 % of "
                   "runs and beat direct training at log-rank p < 0.05.**")
        if len(good):
            verdict += " Those: " + "; ".join(f"{r.arm}, N_real {int(r.n_real)}, {r.temperature_K:g} K"
                                              for r in good.itertuples()) + "."
        lines += [verdict, ""]
    teacher = table[table["arm"].str.startswith("teacher ") & ~table["survived"]]
    if len(teacher):
        lines += [f"**The teacher's own MD ended {len(teacher)} runs on non-finite values**: the alarms are calibrated "
                  "on its other runs only.", ""]
    lines += ["Caveat: the log-rank test treats every run as independent; replicas of one model share its weights, so "
              "with few seeds the p-value overstates the evidence when models of one arm differ much. stability.csv "
              "has every run with its seed.", ""]
    return "\n".join(lines)


def survival_figure(table: pd.DataFrame, out_png: str) -> None:
    """Kaplan-Meier curves: fraction of runs without an alarm against simulated time, one panel per hold
    temperature (rows) and N_real (columns); direct dashed black, the teacher's own MD dotted grey, the end
    of the ramp a thin vertical line."""
    plt = pyplot()

    models = table[~table["arm"].str.startswith("teacher ")] if len(table) else table
    temps = sorted(table["temperature_K"].unique()) if len(table) else [None]
    n_reals = sorted(models["n_real"].dropna().unique()) if len(models) else [None]
    fig, axes = plt.subplots(len(temps), len(n_reals), figsize=(4.5 * len(n_reals), 3.4 * len(temps)), squeeze=False,
                             constrained_layout=True)
    colours = {}
    for i, temp in enumerate(temps):
        for j, n_real in enumerate(n_reals):
            ax = axes[i][j]
            if temp is None:
                ax.text(0.5, 0.5, "no stability runs", ha="center", va="center", transform=ax.transAxes)
                continue
            sub = table[(table["temperature_K"] == temp) & ((table["n_real"] == n_real) | table["arm"].str.startswith("teacher "))]
            end = float(sub["protocol_ps"].max())
            for arm, g in sub.groupby("arm"):
                km = kaplan_meier(np.where(g["survived"], g["simulated_ps"], g["time_to_failure_ps"].astype(float)),
                                  ~g["survived"])
                t = np.concatenate([[0.0], km["time"], [end]])
                s = np.concatenate([[1.0], km["survival"], [km["survival"].iloc[-1] if len(km) else 1.0]])
                style = ({"color": "black", "ls": "--"} if arm == "direct" else
                         {"color": "grey", "ls": ":", "lw": 2} if arm.startswith("teacher ") else
                         {"color": colours.setdefault(arm, f"C{len(colours)}")})
                ax.step(t, s, where="post", label=f"{arm} ({len(g)} runs)", **style)
            ax.axvline(float(sub["ramp_ps"].max()), color="grey", lw=0.6)  # end of the ramp, start of the hold
            ax.set_ylim(-0.05, 1.05)
            ax.set_xlim(0, end)
            ax.set_xlabel("simulated time (ps)")
            ax.set_title(f"{temp:g} K, N_real = {int(n_real)}" if n_real is not None else f"{temp:g} K")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
        axes[i][0].set_ylabel("fraction without an alarm")
    fig.savefig(out_png, dpi=120)
    plt.close(fig)


def rdf_figure(files: list[str], out_png: str) -> None:
    """g(r) of every model's hold (thin, coloured by source) against the reference (thick dashed), one
    panel per hold temperature: each rdf-<T>K.json of ``files`` with the rdf-<T>K.csv beside it."""
    plt = pyplot()

    data = []
    for path in files:
        info = json.loads(Path(path).read_text())
        curve = Path(path).with_suffix(".csv")
        if info.get("rdf_error") is None and not info.get("n_frames"):
            continue
        data.append((info, pd.read_csv(curve)))
    temps = sorted({float(i["temperature_K"]) for i, _ in data}) or [None]
    fig, axes = plt.subplots(1, len(temps), figsize=(6 * len(temps), 4), squeeze=False, constrained_layout=True)
    colours = {}
    for ax, temp in zip(axes[0], temps):
        drawn_reference = False
        for info, curve in data:
            if float(info["temperature_K"]) != temp:
                continue
            if not drawn_reference:
                ax.plot(curve["r"], curve["g_reference"], "k--", lw=2.2, label=f"reference ({Path(info['reference']).name})")
                drawn_reference = True
            source = str(info.get("teacher"))
            colour = colours.setdefault(source, "grey" if source == "direct" else f"C{len(colours)}")
            label = source if source not in [line.get_label() for line in ax.lines] else None
            ax.plot(curve["r"], curve["g"], color=colour, lw=0.8, alpha=0.7, label=label)
        ax.set_xlabel("r (Å)")
        ax.set_ylabel("g(r)")
        ax.set_title("RDF in the hold" + (f" at {temp:g} K" if temp is not None else ": no run reached it"))
        if ax.lines:
            ax.legend(fontsize=7)
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
