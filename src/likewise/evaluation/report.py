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

__all__ = ["format_cell", "html_report", "markdown_table", "plot_png"]


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


def _table_rows(result, digits: int):
    frame = result.to_frame()
    header = ["model", *[_label(c) for c in result.columns]]
    rows = []
    for name, row in frame.iterrows():
        cells = [str(name)]
        for c in result.columns:
            d = 3 if c.endswith("_time") else digits
            cells.append(format_cell(row.get(c, float("nan")), row.get(f"{c}_std"), d))
        rows.append(cells)
    return header, rows


def _label(column: str) -> str:
    return {"fit_time": "fit (s)", "predict_time": "predict (s)"}.get(column, column)


def markdown_table(result, digits: int = 4) -> str:
    """The summary as a Markdown table, best model first, plus notes on skipped models."""
    header, rows = _table_rows(result, digits)
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    proto = result.protocol.get("protocol", "")
    folds = int(result.folds["fold"].nunique()) if len(result.folds) else 0
    lines.append("")
    lines.append(f"Protocol: {proto}, {folds} fold(s), sorted by {result.sort_by} "
                 f"({'lower' if _lower(result.sort_by) else 'higher'} is better); "
                 "mean ± std over folds.")
    for name, note in result.notes.items():
        lines.append(f"Not evaluated: {name}: {note}")
    return "\n".join(lines)


def _lower(metric: str) -> bool:
    from .metrics import higher_is_better

    return not higher_is_better(metric)


def plot_png(result, metrics: Iterable[str] | None = None, dpi: int = 110) -> bytes:
    """PNG bytes of a bar chart: one panel per metric (at most 4), one bar per model."""
    # an explicit Agg canvas: no pyplot, no display, and the user's backend is untouched
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    frame = result.to_frame()
    chosen = list(metrics) if metrics is not None else \
        [result.sort_by] + [m for m in result.metrics if m != result.sort_by]
    chosen = [m for m in chosen if m in frame.columns][:4]
    if not chosen:
        chosen = ["fit_time"]
    fig = Figure(figsize=(3.6 * len(chosen) + 0.6, 3.4), dpi=dpi)
    FigureCanvasAgg(fig)
    names = [str(n) for n in frame.index]
    colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3",
              "#8c8c8c", "#ccb974", "#64b5cd"]
    for j, metric in enumerate(chosen):
        ax = fig.add_subplot(1, len(chosen), j + 1)
        means = frame[metric].to_numpy(dtype=float)
        stds = frame.get(f"{metric}_std")
        err = None if stds is None else np.nan_to_num(stds.to_numpy(dtype=float))
        ax.bar(range(len(names)), means, yerr=err, capsize=3,
               color=[colors[i % len(colors)] for i in range(len(names))])
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        arrow = "lower is better" if _lower(metric) else "higher is better"
        ax.set_title(f"{metric}\n({arrow})", fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
tr.best td{background:#eef7ee;font-weight:600}
code{background:#f4f4f4;padding:0 .2em}.muted{color:#666;font-size:.85em}
img{max-width:100%}
"""


def _html_table(header, rows, best_first: bool = False) -> str:
    out = ["<table><thead><tr>"]
    out += [f"<th>{html.escape(str(h))}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for i, r in enumerate(rows):
        cls = ' class="best"' if best_first and i == 0 else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r)
                   + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _kv_table(d: dict) -> str:
    rows = []
    for k, v in d.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}={b}" for a, b in v.items())
        elif isinstance(v, float):
            v = f"{v:.6g}"
        rows.append([k, v])
    return _html_table(["", "value"], rows)


def html_report(result, png: bytes | None = None) -> str:
    """A single self-contained HTML page: table, chart (base64 PNG), data, models, versions.

    ``png`` reuses an already drawn chart (:func:`plot_png`).
    """
    header, rows = _table_rows(result, 4)
    png = base64.b64encode(png if png is not None else plot_png(result)).decode("ascii")
    proto = result.protocol
    params_rows = [[name, info["class"], ", ".join(f"{k}={v}" for k, v in info["params"].items())
                    or "(defaults)"] for name, info in result.models.items()]
    ds = {k: v for k, v in result.dataset.items() if k not in ("value_histogram",)}
    notes = "".join(f"<li><b>{html.escape(n)}</b>: {html.escape(t)}</li>"
                    for n, t in result.notes.items())
    folds = int(result.folds["fold"].nunique()) if len(result.folds) else 0
    direction = "lower" if _lower(result.sort_by) else "higher"
    when = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>likewise comparison</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>likewise model comparison</h1>",
        f"<p class='muted'>Generated {when} in {result.elapsed:.1f} s.</p>",
        (f"<p>Protocol <code>{html.escape(str(proto.get('protocol')))}</code>, {folds} "
         f"fold(s); models sorted by <b>{html.escape(result.sort_by)}</b> ({direction} is "
         "better). Cells are mean ± standard deviation over folds; times in seconds.</p>"),
        "<h2>Results</h2>",
        _html_table(header, rows, best_first=True),
        f"<ul>{notes}</ul>" if notes else "",
        f"<img alt='bar chart of the metrics' src='data:image/png;base64,{png}'>",
        "<h2>Protocol</h2>", _kv_table(proto),
        "<h2>Data set</h2>", _kv_table(ds),
        "<h2>Models</h2>", _html_table(["name", "class", "parameters"], params_rows),
        "<h2>Versions</h2>", _kv_table(result.versions),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)
