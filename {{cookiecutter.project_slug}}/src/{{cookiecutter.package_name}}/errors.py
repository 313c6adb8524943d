"""Errors a user can act on. The CLI prints their message and exits non-zero, without a traceback."""


class PipelineError(Exception):
    """Base class: the message says what is wrong and how to fix it."""

    exit_code = 1


class SettingsError(PipelineError):
    """params.yaml is missing, malformed, or has an unknown or mistyped key."""


class DataError(PipelineError):
    """A data file cannot be read (missing, empty, truncated, wrong format)."""


class DataValidationError(PipelineError):
    """The data breaks the schema; the message is the failure report."""

    def __init__(self, message: str, report: dict | None = None) -> None:
        super().__init__(message)
        self.report = report or {}


class StageOrderError(PipelineError):
    """A stage needs the output of an earlier stage that is missing or stale."""


class GateError(PipelineError):
    """A safeguard (quality threshold, parity tolerance) blocked the model."""


class VerificationError(PipelineError):
    """A bundle does not match its checksums, model, schema or parity record."""
