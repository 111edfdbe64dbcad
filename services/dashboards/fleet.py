"""The four provisioned dashboards: fleet overview, drift by model version, latency, and the
labeling pipeline. Every query reads metrics the services export (or the recording rules in
``deploy/prometheus/rules/``); none is labeled by device.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)

DATASOURCE = DataSourceRef(type_val="prometheus", uid="fleet-prometheus")  # provisioned uid
VERSION = 'model_version=~"$model_version"'  # every per-version query filters on the variable
RATE = "$__rate_interval"
PSI_ALERT = 0.2  # services.processor.drift.PSI_ALERT (the test of the rules checks it)


def _query(expr: str, legend: str = "") -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).datasource(DATASOURCE)
    return query.legend_format(legend) if legend else query


def _series(
    title: str, unit: str, *queries: prometheus.Dataquery, width: int = 12
) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE).height(8).span(width)
    for q in queries:
        panel = panel.with_target(q)
    return panel


def _stat(
    title: str, unit: str, query: prometheus.Dataquery, red_above: float | None = None
) -> stat.Panel:
    panel = stat.Panel().title(title).unit(unit).datasource(DATASOURCE).height(4).span(6)
    panel = panel.with_target(query)
    if red_above is not None:
        steps = [Threshold(value=None, color="green"), Threshold(value=red_above, color="red")]
        panel = panel.thresholds(
            dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)
        )
    return panel


def _base(uid: str, title: str, with_version: bool = True) -> dashboard.Dashboard:
    board = (
        dashboard.Dashboard(title)
        .uid(uid)
        .tags(["fleet", "generated"])
        .refresh("10s")
        .time("now-30m", "now")
        .timezone("browser")
    )
    if with_version:
        board = board.with_variable(
            dashboard.QueryVariable("model_version")
            .label("Model version")
            .datasource(DATASOURCE)
            .query("label_values(fleet_processor_events_total, model_version)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.NUMERICAL_DESC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
    return board


def overview() -> dashboard.Dashboard:
    return (
        _base("fleet-overview", "Fleet overview", with_version=False)
        .with_row(dashboard.Row("Now"))
        .with_panel(
            _stat(
                "Predictions / s",
                "reqps",
                _query(f"sum(rate(fleet_processor_events_total[{RATE}]))"),
            )
        )
        .with_panel(
            _stat(
                "Worst drift (PSI)",
                "none",
                _query('max(fleet_processor_drift{statistic="psi"})'),
                red_above=PSI_ALERT,
            )
        )
        .with_panel(
            _stat(
                "Low-confidence share",
                "percentunit",
                _query(
                    f"sum(rate(fleet_processor_low_confidence_total[{RATE}]))"
                    f" / sum(rate(fleet_processor_events_total[{RATE}]))"
                ),
                red_above=0.3,
            )
        )
        .with_panel(
            _stat("Labeling backlog", "short", _query("sum(fleet_labeler_backlog)"), red_above=500)
        )
        .with_row(dashboard.Row("Traffic"))
        .with_panel(
            _series(
                "Predictions by model version",
                "reqps",
                _query(
                    f"sum by (model_version) (rate(fleet_processor_events_total[{RATE}]))",
                    "v{{model_version}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Rejected records",
                "reqps",
                _query(f"sum(rate(fleet_processor_duplicates_total[{RATE}]))", "duplicates"),
                _query(f"sum(rate(fleet_processor_invalid_total[{RATE}]))", "invalid"),
                _query(f"sum by (kind) (rate(fleet_gateway_dlq_total[{RATE}]))", "DLQ {{kind}}"),
            )
        )
    )


def drift() -> dashboard.Dashboard:
    return (
        _base("fleet-drift", "Drift by model version")
        .with_panel(
            _series(
                "PSI of the last closed window",
                "none",
                _query(
                    f'fleet_processor_drift{{statistic="psi", {VERSION}}}',
                    "v{{model_version}} {{feature}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Jensen-Shannon distance",
                "none",
                _query(
                    f'fleet_processor_drift{{statistic="js_distance", {VERSION}}}',
                    "v{{model_version}} {{feature}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Chi-square p-value",
                "none",
                _query(
                    f'fleet_processor_drift{{statistic="chi2_pvalue", {VERSION}}}',
                    "v{{model_version}} {{feature}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Predicted class share",
                "percentunit",
                _query(
                    f"sum by (model_version, label) "
                    f"(rate(fleet_processor_predictions_total{{{VERSION}}}[{RATE}]))"
                    f" / ignoring (label) group_left "
                    f"sum by (model_version) "
                    f"(rate(fleet_processor_events_total{{{VERSION}}}[{RATE}]))",
                    "v{{model_version}} {{label}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Confidence quantiles",
                "percentunit",
                *[
                    _query(
                        f"histogram_quantile({q}, sum by (model_version, le) "
                        f"(rate(fleet_processor_confidence_bucket{{{VERSION}}}[{RATE}])))",
                        f"v{{{{model_version}}}} p{int(q * 100)}",
                    )
                    for q in (0.1, 0.5)
                ],
            )
        )
        .with_panel(
            _series(
                "Low-confidence share of the last closed window",
                "percentunit",
                _query(
                    f"fleet_processor_window_low_confidence_ratio{{{VERSION}}}",
                    "v{{model_version}}",
                ),
            )
        )
    )


def latency() -> dashboard.Dashboard:
    device_quantiles = [
        _query(
            f"histogram_quantile({q}, sum by (model_version, le) "
            f"(rate(fleet_processor_device_latency_seconds_bucket{{{VERSION}}}[{RATE}])))",
            f"v{{{{model_version}}}} p{int(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    ]
    return (
        _base("fleet-latency", "Latency")
        .with_panel(_series("On-device inference latency", "s", *device_quantiles, width=24))
        .with_panel(
            _series(
                "Processor event handling p95",
                "ms",
                _query(
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate(fleet_processor_faust_events_runtime_ms_bucket[{RATE}])))",
                    "p95",
                ),
            )
        )
        .with_panel(
            _series(
                "Gateway MQTT to Kafka p95",
                "s",
                _query(
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate(fleet_gateway_produce_latency_seconds_bucket[{RATE}])))",
                    "p95",
                ),
            )
        )
    )


def labeling() -> dashboard.Dashboard:
    return (
        _base("fleet-labeling", "Labeling pipeline", with_version=False)
        .with_panel(
            _series(
                "Label requests and labels / s",
                "reqps",
                _query(
                    f"sum by (strategy) (rate(fleet_processor_label_requests_total[{RATE}]))",
                    "requested ({{strategy}})",
                ),
                _query(
                    f"sum by (teacher_id) (rate(fleet_labeler_labels_total[{RATE}]))",
                    "labeled ({{teacher_id}})",
                ),
            )
        )
        .with_panel(
            _series(
                "Backlog and processor lag",
                "short",
                _query("sum(fleet_labeler_backlog)", "labeler backlog"),
                _query("fleet:processor_consumer_lag", "processor lag {{topic}}"),
            )
        )
        .with_panel(
            _series(
                "Teacher batch time p95",
                "s",
                _query(
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate(fleet_labeler_batch_seconds_bucket[{RATE}])))",
                    "p95",
                ),
            )
        )
        .with_panel(
            _series(
                "Requests skipped by the labeler",
                "reqps",
                _query(
                    f"sum by (reason) (rate(fleet_labeler_skipped_total[{RATE}]))", "{{reason}}"
                ),
            )
        )
    )


DASHBOARDS = {
    "fleet-overview.json": overview,
    "fleet-drift.json": drift,
    "fleet-latency.json": latency,
    "fleet-labeling.json": labeling,
}
