"""The "Continual distillation" dashboard: what an on-call engineer asks about the loop after
the labeler: is the distiller storing labels and retraining, what did the last gate say,
which release is out, how far each rollout got and what the devices did with it, and which ops
commands came in through the control API.

Every query reads metrics of services/distiller/metrics.py (port 19104),
services/rollout/metrics.py (19105) and services/control/metrics.py (19106), or recording
rules of ``deploy/prometheus/rules/distillation.yml``; none is labeled by device.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from services.dashboards.fleet import PSI_ALERT, RATE, _base, _query, _series, _stat

REVERT_ALERT = 0.05  # FleetRolloutRevertsHigh in deploy/prometheus/rules/distillation.yml


def _distiller(board: dashboard.Dashboard) -> dashboard.Dashboard:
    return (
        board.with_row(dashboard.Row("Distiller"))
        .with_panel(
            _stat(
                "Last published release",
                "none",
                _query("max(fleet_distiller_last_published_version)"),
            )
        )
        .with_panel(
            _stat("Newest stored release", "none", _query("max(fleet_distiller_current_version)"))
        )
        .with_panel(
            _stat(
                "Samples since the last cycle", "short", _query("sum(fleet_distiller_new_samples)")
            )
        )
        .with_panel(
            _stat(
                "Drift of the current release (PSI)",
                "none",
                _query("max(fleet_distiller_drift)"),
                red_above=PSI_ALERT,
            )
        )
        .with_panel(
            _series(
                "Labeled samples ingested / s",
                "reqps",
                _query(f"sum(rate(fleet_distiller_samples_stored_total[{RATE}]))", "stored"),
                _query(
                    f"sum by (reason) (rate(fleet_distiller_samples_skipped_total[{RATE}]))",
                    "skipped ({{reason}})",
                ),
            )
        )
        .with_panel(
            _series(
                "Labeled samples in the store",
                "short",
                _query("sum(fleet_distiller_samples)", "stored"),
                _query("sum(fleet_distiller_new_samples)", "new since the last cycle"),
            )
        )
        .with_panel(
            _series(
                "Retrains in the last hour, by trigger and outcome",
                "short",
                _query("fleet:distiller_retrains:increase1h", "{{trigger}} {{outcome}}"),
            )
        )
        .with_panel(
            _series(
                "Last gate: candidate vs current release accuracy",
                "percentunit",
                _query('fleet_distiller_gate{metric=~"(new|replay)_accuracy_.*"}', "{{metric}}"),
            )
        )
        .with_panel(
            _series(
                "Cycle duration",
                "s",
                _query("fleet:distiller_cycle_seconds:mean1h", "mean over 1 h"),
                _query(
                    "histogram_quantile(0.95, sum by (le) "
                    "(increase(fleet_distiller_cycle_seconds_bucket[6h])))",
                    "p95 over 6 h",
                ),
            )
        )
        .with_panel(
            _series(
                "Distiller errors / s",
                "reqps",
                _query(f"sum(rate(fleet_distiller_drift_errors_total[{RATE}]))", "drift queries"),
                _query(
                    f"sum(rate(fleet_distiller_publish_failures_total[{RATE}]))",
                    "unacknowledged releases",
                ),
            )
        )
    )


def _rollout(board: dashboard.Dashboard) -> dashboard.Dashboard:
    return (
        board.with_row(dashboard.Row("Rollout"))
        .with_panel(
            _series(
                "Rollout stage per release",
                "short",
                _query("max by (version) (fleet_rollout_stage)", "v{{version}}"),
            )
        )
        .with_panel(
            _series(
                "Rollout status per release",
                "short",
                _query(
                    "max by (version, status) (fleet_rollout_status == 1)",
                    "v{{version}} {{status}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Devices by release, group and outcome",
                "short",
                _query(
                    'sum by (version, group, outcome) (fleet_rollout_devices{outcome!="total"})',
                    "v{{version}} {{group}} {{outcome}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Reverted share of the devices a release was sent to",
                "percentunit",
                _query("fleet:rollout_revert_ratio", "v{{version}}"),
            )
        )
        .with_panel(
            _series(
                "Halts and rollbacks in the last hour",
                "short",
                _query(
                    "sum by (cause) (increase(fleet_rollout_halts_total[1h]))", "halted ({{cause}})"
                ),
                _query("sum(increase(fleet_rollout_rollbacks_total[1h]))", "rolled back"),
            )
        )
        .with_panel(
            _series(
                "OTA chunks served / s and devices reporting",
                "short",
                _query(f"sum(rate(fleet_rollout_chunks_served[{RATE}]))", "chunks / s"),
                _query("sum(fleet_rollout_devices_seen)", "devices reporting"),
            )
        )
        .with_panel(
            _series(
                "Releases and ops commands read by the rollout manager / s",
                "reqps",
                _query(
                    f"sum by (result) (rate(fleet_rollout_releases_total[{RATE}]))",
                    "release {{result}}",
                ),
                _query(
                    f"sum by (command, result) (rate(fleet_rollout_commands_total[{RATE}]))",
                    "{{command}} {{result}}",
                ),
            )
        )
    )


def _control(board: dashboard.Dashboard) -> dashboard.Dashboard:
    return (
        board.with_row(dashboard.Row("Ops commands (control API)"))
        .with_panel(
            _series(
                "Ops commands by type and outcome / s",
                "reqps",
                _query(
                    f"sum by (command, outcome) (rate(fleet_control_commands_total[{RATE}]))",
                    "{{command}} {{outcome}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Ops commands in the last hour (refused: invalid, unauthorized, unavailable)",
                "short",
                _query(
                    'sum by (command) (fleet:control_commands:increase1h{outcome="accepted"})',
                    "{{command}} accepted",
                ),
                _query(
                    'sum by (command) (fleet:control_commands:increase1h{outcome!="accepted"})',
                    "{{command}} refused",
                ),
            )
        )
        .with_panel(
            _series(
                "Kafka acknowledgement of an ops command p95",
                "s",
                _query(
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate(fleet_control_ack_seconds_bucket[{RATE}])))",
                    "p95",
                ),
            )
        )
    )


def distillation() -> dashboard.Dashboard:
    board = _base("fleet-distillation", "Continual distillation", with_version=False)
    return _control(_rollout(_distiller(board)))
