"""Charts that tell the truth: on every heatmap the color follows the value monotonically (read from the figure's
own data: z, zmin/zmax and colorscale), with a color bar; bn_shift on a log scale by default; identical variants
drawn once with the group named; no color Streamlit's frontend would rewrite."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from plotly.colors import get_colorscale

from components import charts
from components.layer_tables import layer_table, measure_matrix

#: Streamlit's plotly frontend replaces these hex strings by theme colors (its placeholders #000001-#000040).
PLACEHOLDER = re.compile(r"#0000[0-4]\d\b", re.I)


@pytest.fixture(scope="module")
def camera_channels(model, camera_signal):  # noqa: ANN001, ANN201
    from core.inspect.engine import inspect
    from core.preprocess.presets import get_preset

    return inspect(camera_signal, get_preset("channels"), model)


def _rgb(color: str) -> np.ndarray:
    return np.array([float(x) for x in color[color.index("(") + 1:-1].split(",")[:3]])


def cell_colors(trace) -> np.ndarray:  # noqa: ANN001 - a plotly Heatmap
    """The RGB color plotly gives each cell: z mapped linearly from [zmin, zmax] into the trace's colorscale."""
    stops = np.array([s[0] for s in trace.colorscale])
    colors = np.array([_rgb(s[1]) for s in trace.colorscale])
    z = np.array(trace.z, dtype=float)
    t = np.clip((z - trace.zmin) / (trace.zmax - trace.zmin), 0, 1)
    return np.stack([np.interp(t, stops, colors[:, c]) for c in range(3)], axis=-1)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.2126, 0.7152, 0.0722])


def test_bn_shift_heatmap_color_is_monotone_in_its_values_with_a_log_color_bar(camera_channels) -> None:  # noqa: ANN001
    fig = charts.measures_heatmap(camera_channels)
    trace = next(t for t in fig.data if t.name == "bn_shift")
    values = measure_matrix(camera_channels, "bn_shift").to_numpy(dtype=float)
    assert values.max() / max(values.min(), 1e-9) > 100  # the stem's shift dwarfs the others: the hard case
    assert not PLACEHOLDER.search(json.dumps(trace.colorscale))
    lum = _luminance(cell_colors(trace))
    order = np.argsort(values, axis=None, kind="stable")
    assert np.all(np.diff(lum.ravel()[order]) >= -1e-9)  # brighter never means smaller
    assert lum.max() - lum.min() > 100  # and the colors actually spread over the scale
    # the written numbers are the values themselves, the color bar is in bn_shift units on decades
    assert [[float(x) for x in row] for row in trace.text] == [[float(f"{v:.2f}") for v in row] for row in values]
    assert trace.showscale is not False and "bn_shift" in trace.colorbar.title.text
    assert all(float(lbl) == 10.0 ** v for v, lbl in zip(trace.colorbar.tickvals, trace.colorbar.ticktext, strict=True))
    assert "log" in fig.layout.annotations[2].text


def test_linear_bn_shift_is_still_monotone(camera_channels) -> None:  # noqa: ANN001
    trace = next(t for t in charts.measures_heatmap(camera_channels, log_bn_shift=False).data if t.name == "bn_shift")
    values = measure_matrix(camera_channels, "bn_shift").to_numpy(dtype=float)
    lum = _luminance(cell_colors(trace)).ravel()[np.argsort(values, axis=None, kind="stable")]
    assert np.all(np.diff(lum) >= -1e-9)


def test_every_heatmap_has_explicit_ranges_a_color_bar_and_no_placeholder_colors(camera_channels) -> None:  # noqa: ANN001
    channels = np.arange(3)
    figures = [charts.measures_heatmap(camera_channels), charts.feature_map_figure(camera_channels, 1, channels),
               charts.feature_map_figure(camera_channels, 1, channels, diff=True)]
    for fig in figures:
        own = fig.to_dict()
        own["layout"].pop("template", None)  # the default template is Streamlit's once a page has drawn a chart
        assert not PLACEHOLDER.search(json.dumps(own, default=str))
        heatmaps = [t for t in fig.data if t.type == "heatmap"]
        assert heatmaps and all(t.zmin is not None and t.zmax is not None and t.zmax > t.zmin for t in heatmaps)
        assert any(t.showscale is not False for t in heatmaps)
    similarity = charts.measures_heatmap(camera_channels).data[0]
    assert similarity.zmin <= float(np.nanmin(np.array(similarity.z, dtype=float)))  # negative cosines keep their color


def test_colorscale_matches_plotly_apart_from_the_notation() -> None:
    for name in ("Magma", "Viridis", "RdBu_r", "Blues"):
        ours = charts.colorscale(name)
        theirs = get_colorscale(name)
        assert [p for p, _ in ours] == [p for p, _ in theirs]
        assert all(c.startswith("rgb(") for _, c in ours)
    assert charts.colorscale("Magma")[0][1] == "rgb(0,0,4)"  # the color Streamlit used to replace


def test_identical_variants_are_one_line_named_after_the_group(camera_channels) -> None:  # noqa: ANN001
    table = layer_table(camera_channels)
    groups = charts.same_numbers_groups(table, ["mean", "std", "bn_shift", "similarity"])
    # camera is a gray photo: rgb, replication, the summed conv and the gray colormap give the network one input
    assert groups == [["rgb", "gray-replicate", "gray-conv-sum", "gray→gray cmap"], ["gray→viridis"], ["gray→turbo"],
                      ["gray→jet"]]
    fig = charts.statistics_figure(table, list(camera_channels.layer_names))
    legend = [t.name for t in fig.data if t.showlegend]
    assert len(legend) == len(charts.same_numbers_groups(table, list(table.columns[4:])))
    assert "rgb = gray-replicate = gray-conv-sum = gray→gray cmap" in legend
    assert len(legend) < len(camera_channels.variants)


def test_bn_shift_statistics_axis_is_log_by_default(camera_channels) -> None:  # noqa: ANN001
    table = layer_table(camera_channels)
    names = list(camera_channels.layer_names)
    log = charts.statistics_figure(table, names)
    lin = charts.statistics_figure(table, names, log_bn_shift=False)
    axis_of = {a.text: a for a in log.layout.annotations}
    assert "bn_shift (log scale)" in axis_of and "bn_shift" in {a.text for a in lin.layout.annotations}
    log_axes = [k for k, v in log.layout.to_plotly_json().items() if k.startswith("yaxis") and v.get("type") == "log"]
    lin_axes = [k for k, v in lin.layout.to_plotly_json().items() if k.startswith("yaxis") and v.get("type") == "log"]
    assert len(log_axes) == 1 and lin_axes == []
