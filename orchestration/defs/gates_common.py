"""Turning a quality.gates.GateResult into a Dagster check result (counts and samples, no PII)."""

import dagster as dg

from quality.gates import GateResult


def check_result(gate: GateResult,
                 severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=gate.passed,
        severity=severity,
        metadata={
            "failing_count": gate.failing_count,
            "failing_sample": dg.MetadataValue.json(gate.sample),
            **{key: _metadata_value(value) for key, value in gate.details.items()},
        },
    )


def _metadata_value(value):
    return dg.MetadataValue.json(value) if isinstance(value, (dict, list)) else value
