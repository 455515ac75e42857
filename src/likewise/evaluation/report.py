"""Rendering of comparison results: Markdown, a PNG chart and a self-contained HTML page.

matplotlib is imported only when a chart is drawn (with the non-interactive Agg backend,
so it works on servers without a display).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
from collections.abc import Iterable

import numpy as np

__all__ = ["GLOSSARY", "figure", "format_cell", "format_significant", "glossary", "html_report",
           "human_duration", "human_time", "markdown_table", "plot_png", "significant"]


def format_cell(mean: float, std: float | None = None, digits: int = 4) -> str:
    """``mean ± std`` with ``digits`` decimals (``-`` for missing values).

    Examples
    --------
    >>> format_cell(0.94321, 0.0042)
    '0.9432 ± 0.0042'
    """
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    text = f"{mean:.{digits}f}"
    if std is not None and not (isinstance(std, float) and math.isnan(std)):
        text += f" ± {std:.{digits}f}"
    return text


def _missing(value) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and not np.isfinite(value))


def significant(value: float, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits, never in exponent form.

    Integers keep every digit; trailing zeros are kept so a column lines up.

    Examples
    --------
    >>> significant(0.030912), significant(352.3947), significant(0.9421), significant(12345.6)
    ('0.03091', '352.4', '0.9421', '12346')
    """
    if _missing(value):
        return "-"
    return f"{value:.{_decimals(float(value), digits)}f}"


def _decimals(value: float, digits: int) -> int:
    if value == 0:
        return digits - 1
    return int(min(max(0, digits - 1 - math.floor(math.log10(abs(value)))), 12))


def format_significant(mean: float, std: float | None = None, digits: int = 4) -> str:
    """``mean ± std`` with ``digits`` significant digits in the mean; the std gets as many
    decimals as the mean (``-`` for missing values).

    Examples
    --------
    >>> format_significant(0.0309123, 0.00042), format_significant(352.39, None)
    ('0.03091 ± 0.00042', '352.4')
    """
    if _missing(mean):
        return "-"
    decimals = _decimals(float(mean), digits)
    text = f"{mean:.{decimals}f}"
    if not _missing(std):
        text += f" ± {std:.{decimals}f}"
    return text


def _table_rows(result, digits: int, formatter=format_cell):
    frame = result.to_frame()
    header = ["model", *[_label(c) for c in result.columns]]
    rows = []
    for name, row in frame.iterrows():
        cells = [str(name)]
        for c in result.columns:
            d = 3 if c.endswith("_time") and formatter is format_cell else digits
            cells.append(formatter(row.get(c, float("nan")), row.get(f"{c}_std"), d))
        rows.append(cells)
    return header, rows


def _label(column: str) -> str:
    return {"fit_time": "fit (s)", "predict_time": "predict (s)"}.get(column, column)


def _markdown_block(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _column_chunks(header: list[str], rows: list[list[str]], width: int) -> list[list[int]]:
    """Groups of metric column positions whose Markdown table (with the model column
    repeated) fits ``width`` characters; a column wider than that stands alone."""
    cells = [header, *rows]

    def cell_width(j: int) -> int:
        return max(len(r[j]) for r in cells) + 3  # "| " before, " " after

    first = cell_width(0) + 1  # the closing "|"
    chunks: list[list[int]] = [[]]
    used = first
    for j in range(1, len(header)):
        w = cell_width(j)
        if chunks[-1] and used + w > width:
            chunks.append([])
            used = first
        chunks[-1].append(j)
        used += w
    return chunks


def markdown_table(result, digits: int = 4, width: int | None = None) -> str:
    """The summary as a Markdown table, best model first, plus notes on skipped models.

    Parameters
    ----------
    result : ComparisonResult
    digits : int
        Decimals of the metric cells (times get 3).
    width : int, optional
        Fit a terminal this many characters wide: the metrics are wrapped into several
        tables (each repeating the model column, best model first) so that no line is
        longer than ``width``; the notes are wrapped too. Default: one table.
    """
    header, rows = _table_rows(result, digits)
    if width is None:
        lines = _markdown_block(header, rows)
    else:
        lines = []
        for chunk in _column_chunks(header, rows, width):
            cols = [0, *chunk]
            if lines:
                lines.append("")
            lines += _markdown_block([header[j] for j in cols],
                                     [[r[j] for j in cols] for r in rows])
    footer = _footer(result, narrow=width is not None)
    if width is not None:
        import textwrap

        footer = [wrapped for line in footer
                  for wrapped in (textwrap.wrap(line, width, subsequent_indent="  ") or [""])]
    return "\n".join([*lines, "", *footer])


def _footer(result, narrow: bool = False) -> list[str]:
    proto = result.protocol.get("protocol", "")
    folds = _n_folds(result)
    order = f"sorted by {result.sort_by} ({'lower' if _lower(result.sort_by) else 'higher'} " \
        "is better)"
    if narrow:  # two short lines rather than one wrapped mid-phrase
        spread = "mean ± std over folds" if folds > 1 else "one split, so no std"
        lines = [f"Protocol: {proto}, {folds} fold(s); {spread}.",
                 f"Models {order}."]
    else:
        lines = [f"Protocol: {proto}, {folds} fold(s), {order}; mean ± std over folds."]
    cold = _cold_note(result)
    if cold:
        lines.append(cold)
    lines += [f"Not evaluated: {name}: {note}" for name, note in result.notes.items()]
    return lines


def _n_folds(result) -> int:
    return int(result.folds["fold"].nunique()) if len(result.folds) else 0


def _cold_note(result) -> str:
    """What the evaluation did with test users/items that had no training data."""
    folds = result.folds
    if not len(folds):
        return ""
    first = folds.drop_duplicates("fold")  # every model sees the same split
    if "cold_pairs" in folds.columns and "n_test" in folds.columns:
        cold, total = int(first["cold_pairs"].sum()), int(first["n_test"].sum())
        if cold:
            return (f"Cold pairs: {cold:,} of {total:,} test ratings had a user or item "
                    "without training data and were scored by each model's fallback.")
    if "cold_users" in folds.columns:
        cold = int(first["cold_users"].sum())
        if cold:
            return (f"Cold users: {cold:,} test users had no training data and were not "
                    "ranked (every model would answer them with its fallback).")
    return ""


def _lower(metric: str) -> bool:
    from .metrics import higher_is_better

    return not higher_is_better(metric)


#: One line per metric for the reports' glossary (keys are base names, without ``@k``).
GLOSSARY = {
    "rmse": "Root mean squared error of the predicted ratings on the held-out ratings "
            "(in rating units; lower is better).",
    "mae": "Mean absolute error of the predicted ratings (rating units; lower is better).",
    "mse": "Mean squared error of the predicted ratings (squared rating units; lower is "
           "better).",
    "precision": "Share of the top-k recommended items that are relevant held-out items.",
    "recall": "Share of a user's relevant held-out items found in the top k.",
    "hit_rate": "Share of users with at least one relevant held-out item in their top k "
                "(with one held-out item per user: the leave-one-out hit rate).",
    "ndcg": "Normalised discounted cumulative gain: relevant items near the top of the "
            "list count more; 1 is a perfect ordering.",
    "map": "Mean average precision: precision averaged over the ranks of the relevant "
           "items found in the top k.",
    "mrr": "Mean reciprocal rank of the first relevant item in the top k (0 when none).",
    "auc": "Area under the ROC curve over the whole catalogue: the chance that a relevant "
           "item is ranked above an irrelevant one (0.5 is random).",
    "coverage": "Share of the catalogue recommended to at least one user.",
    "novelty": "Mean self-information -log2(share of users who interacted) of the "
               "recommended items: higher means less popular items.",
    "diversity": "Intra-list diversity: mean pairwise cosine distance between the items "
                 "of each list (genres when the data has them).",
    "arp": "Average recommendation popularity: mean number of training interactions of "
           "the recommended items (lower means less popularity bias).",
    "fit_time": "Seconds to fit the model on the training data (mean over folds).",
    "predict_time": "Seconds of the model's predict/recommend calls on the test data.",
}


def glossary(columns: Iterable[str]) -> list[tuple[str, str]]:
    """``(column, meaning)`` for every column with an entry in :data:`GLOSSARY`."""
    out = []
    for column in columns:
        base = str(column).split("@")[0]
        if base in GLOSSARY:
            k = f" Here k = {column.split('@')[1]}." if "@" in str(column) else ""
            out.append((_label(str(column)), GLOSSARY[base] + k))
    return out


def _chosen_metrics(result, frame, metrics) -> list[str]:
    chosen = list(metrics) if metrics is not None else \
        [result.sort_by] + [m for m in result.metrics if m != result.sort_by]
    chosen = [m for m in chosen if m in frame.columns][:4]
    return chosen or ["fit_time"]


_COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3",
           "#8c8c8c", "#ccb974", "#64b5cd"]


def figure(result, metrics: Iterable[str] | None = None):
    """A matplotlib Figure: one panel per metric (at most 4, two per row), one mark per model.

    Each value is written on its mark. Rating errors (RMSE, MAE, MSE) and panels whose
    values are close together (their spread is under a quarter of the largest) are dot
    plots with an axis zoomed onto the values, said so in the axis label, instead of bars
    from 0 that would make e.g. RMSE 0.916 vs 0.949 look flat; a model more than 25%
    behind the best (Random) is marked at the axis edge with its value rather than
    stretching the axis. Error bars (one standard deviation) are drawn only when there is
    more than one fold.
    """
    # an explicit Agg canvas: no pyplot, no display, and the user's backend is untouched
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    frame = result.to_frame()
    chosen = _chosen_metrics(result, frame, metrics)
    n_cols = min(2, len(chosen))
    n_rows = math.ceil(len(chosen) / n_cols)
    fig = Figure(figsize=(5.2 * n_cols, 3.9 * n_rows + 0.3 * max(0, len(frame) - 4) / 2),
                 dpi=100)
    FigureCanvasAgg(fig)
    several_folds = _n_folds(result) > 1
    for j, metric in enumerate(chosen):
        ax = fig.add_subplot(n_rows, n_cols, j + 1)
        _panel(ax, frame, metric, several_folds)
    fig.tight_layout()
    return fig


def _panel(ax, frame, metric: str, several_folds: bool) -> None:
    names = [str(n) for n in frame.index]
    means = frame[metric].to_numpy(dtype=float)
    stds = frame.get(f"{metric}_std")
    err = None
    if several_folds and stds is not None and np.isfinite(stds.to_numpy(dtype=float)).any():
        err = np.nan_to_num(stds.to_numpy(dtype=float))
    x = np.arange(len(names))
    colors = [_COLORS[i % len(_COLORS)] for i in range(len(names))]
    finite = means[np.isfinite(means)]
    # rating errors are compared by their differences (no model comes near 0), and close
    # values of any metric would look equal as bars from 0
    zoom = len(finite) > 1 and finite.min() > 0 and (
        metric in ("rmse", "mae", "mse") or (finite.max() - finite.min()) < 0.25 * finite.max())
    label = _label(metric)
    if zoom:
        _dot_panel(ax, x, means, err, colors, _lower(metric))
        label += " (axis zoomed, not from 0)"
    else:
        bars = ax.bar(x, means, yerr=err, capsize=4 if err is not None else 0, color=colors)
        ax.bar_label(bars, labels=[significant(m) for m in means], padding=3, fontsize=9)
        ax.set_ylim(0, np.nanmax(np.append(means + (0 if err is None else err), 0)) * 1.15
                    or 1.0)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=25, ha="right", fontsize=9)
    ax.set_xlim(-0.6, len(names) - 0.4)
    direction = "lower is better" if _lower(metric) else "higher is better"
    ax.set_title(f"{label.split(' (')[0]} ({direction})", fontsize=11)
    ax.set_ylabel(label, fontsize=10)
    ax.tick_params(axis="y", labelsize=9)
    ax.grid(axis="y", alpha=0.3)


def _dot_panel(ax, x: np.ndarray, means: np.ndarray, err, colors: list, lower: bool) -> None:
    """Dots with their values on an axis zoomed onto them; models far behind the rest
    are marked at the axis edge with their value, so the close ones stay apart."""
    far = _off_scale(means, lower)
    near = ~far & np.isfinite(means)
    near_err = None if err is None else err[near]
    if near_err is not None:
        ax.errorbar(x[near], means[near], yerr=near_err, fmt="none", ecolor="#555", capsize=4,
                    zorder=1)
    ax.scatter(x[near], means[near], c=[colors[i] for i in np.flatnonzero(near)], s=60,
               zorder=2)
    low, high = _zoomed_range(means[near], near_err)
    ax.set_ylim(low, high)
    tops = means[near] if near_err is None else means[near] + near_err  # above the bar
    for xi, m, top in zip(x[near], means[near], tops):
        ax.annotate(significant(m), (xi, top), xytext=(0, 6), ha="center",
                    textcoords="offset points", va="bottom", fontsize=9)
    edge = high - 0.04 * (high - low) if lower else low + 0.04 * (high - low)
    for i in np.flatnonzero(far):
        ax.scatter([x[i]], [edge], marker="^" if lower else "v", c=[colors[i]], s=80,
                   zorder=2, clip_on=False)
        ax.annotate(f"{significant(means[i])}\n(off axis)", (x[i], edge),
                    xytext=(0, -9 if lower else 9), textcoords="offset points", ha="center",
                    va="top" if lower else "bottom", fontsize=8.5)


def _off_scale(means: np.ndarray, lower: bool) -> np.ndarray:
    """Mask of models more than 25% behind the best one (e.g. Random's RMSE of 1.52 next
    to 0.92-0.95), when at least two others are within it."""
    finite = np.isfinite(means)
    best = np.nanmin(means) if lower else np.nanmax(means)
    with np.errstate(invalid="ignore"):
        far = finite & ((means > 1.25 * best) if lower else (means < 0.75 * best))
    return far if (finite & ~far).sum() >= 2 else np.zeros(len(means), dtype=bool)


def _zoomed_range(means: np.ndarray, err) -> tuple[float, float]:
    spread = (means if err is None else np.concatenate([means - err, means + err]))
    spread = spread[np.isfinite(spread)]
    low, high = float(spread.min()), float(spread.max())
    pad = max((high - low) * 0.25, abs(high) * 0.005)
    return low - pad, high + 1.6 * pad  # room for the value above the highest dot


def plot_png(result, metrics: Iterable[str] | None = None, dpi: int = 100) -> bytes:
    """PNG bytes of :func:`figure`."""
    buf = io.BytesIO()
    figure(result, metrics).savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#222;padding:0 1em;font-size:16px;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0;display:block;max-width:100%;
overflow-x:auto}
th,td{border:1px solid #ddd;padding:.25em .45em;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
tr.best td{background:#eef7ee;font-weight:600}
table.text td{text-align:left}
code{background:#f4f4f4;padding:0 .2em}.muted{color:#555;font-size:.9em}
nav{margin:.5em 0 1em}nav a{margin-right:1.2em}
dl.glossary dt{font-weight:600;margin-top:.4em}dl.glossary dd{margin-left:1.5em}
img.chart{display:block;max-width:100%;height:auto;margin:1em 0}
"""


def _html_table(header, rows, best_first: bool = False, css: str | None = None) -> str:
    out = [f"<table class='{css}'><thead><tr>" if css else "<table><thead><tr>"]
    out += [f"<th>{html.escape(str(h))}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for i, r in enumerate(rows):
        cls = ' class="best"' if best_first and i == 0 else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r)
                   + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _value_text(v) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{a}={_value_text(b)}" for a, b in v.items())
    if isinstance(v, (float, np.floating)):
        return significant(float(v))
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return f"{int(v):,}"
    if isinstance(v, (tuple, list)):
        return ", ".join(_value_text(b) for b in v)
    return str(v)


def _kv_table(d: dict) -> str:
    return _html_table(["", "value"], [[k, _value_text(v)] for k, v in d.items()], css="text")


def human_time(when: _dt.datetime) -> str:
    """``'Friday 4 December 2026, 03:05 UTC'``: a timestamp a person reads at a glance."""
    when = when.astimezone(_dt.UTC)
    return f"{when:%A} {when.day} {when:%B %Y, %H:%M} UTC"


def human_duration(seconds: float) -> str:
    """``'0.8 s'``, ``'42 s'``, ``'3 min 5 s'``, ``'1 h 2 min'``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def _links_html(links: dict | None) -> str:
    if not links:
        return ""
    anchors = "".join(f"<a href='{html.escape(str(href), quote=True)}'>{html.escape(text)}</a>"
                      for text, href in links.items())
    return f"<nav>{anchors}</nav>"


def _sections_html(sections) -> str:
    """Extra tables: ``(heading, header, rows)`` each, with an optional 4th item (a note)."""
    parts = []
    for section in sections or ():
        heading, header, rows = section[:3]
        parts.append(f"<h2>{html.escape(str(heading))}</h2>")
        if len(section) > 3 and section[3]:
            parts.append(f"<p>{html.escape(str(section[3]))}</p>")
        parts.append(_html_table(header, rows, css="text"))
    return "\n".join(parts)


def _glossary_html(result) -> str:
    entries = glossary(result.columns)
    items = "".join(f"<dt>{html.escape(name)}</dt><dd>{html.escape(text)}</dd>"
                    for name, text in entries)
    return f"<h2>Glossary</h2><dl class='glossary'>{items}</dl>" if items else ""


def html_report(result, png: bytes | None = None, *, links: dict | None = None,
                sections=None) -> str:
    """A single self-contained HTML page: table, chart (base64 PNG), glossary, data, models,
    versions.

    Parameters
    ----------
    result : ComparisonResult
    png : bytes, optional
        An already drawn chart (:func:`plot_png`) to reuse.
    links : dict, optional
        Link text -> relative address, shown at the top (e.g. the sibling top-N report).
    sections : list of tuple, optional
        Extra tables after the results: ``(heading, header, rows[, note])`` each (the
        quickstart's example user's top-10).
    """
    header, rows = _table_rows(result, 4, formatter=format_significant)
    png = base64.b64encode(png if png is not None else plot_png(result)).decode("ascii")
    proto = result.protocol
    params_rows = [[name, info["class"], ", ".join(f"{k}={v}" for k, v in info["params"].items())
                    or "(defaults)"] for name, info in result.models.items()]
    ds = {k: v for k, v in result.dataset.items() if k not in ("value_histogram",)}
    notes = "".join(f"<li><b>{html.escape(n)}</b>: {html.escape(t)}</li>"
                    for n, t in result.notes.items())
    cold = _cold_note(result)
    folds = _n_folds(result)
    direction = "lower" if _lower(result.sort_by) else "higher"
    spread = ("Cells are mean ± standard deviation over folds" if folds > 1 else
              "One split, so no standard deviation")
    when = human_time(_dt.datetime.now(_dt.UTC))
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>likewise comparison</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>likewise model comparison</h1>",
        _links_html(links),
        f"<p class='muted'>Generated {when}; the comparison took "
        f"{human_duration(result.elapsed)}.</p>",
        (f"<p>Protocol <code>{html.escape(str(proto.get('protocol')))}</code>, {folds} "
         f"fold(s); models sorted by <b>{html.escape(result.sort_by)}</b> ({direction} is "
         f"better). {spread}; 4 significant digits; times in seconds.</p>"),
        "<h2>Results</h2>",
        _html_table(header, rows, best_first=True),
        f"<p>{html.escape(cold)}</p>" if cold else "",
        f"<ul>{notes}</ul>" if notes else "",
        f"<img class='chart' alt='chart of the metrics per model' "
        f"src='data:image/png;base64,{png}'>",
        _sections_html(sections),
        _glossary_html(result),
        "<h2>Protocol</h2>", _kv_table(proto),
        "<h2>Data set</h2>", _kv_table(ds),
        "<h2>Models</h2>", _html_table(["name", "class", "parameters"], params_rows, css="text"),
        "<h2>Versions</h2>", _kv_table(result.versions),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)
