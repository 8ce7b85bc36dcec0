"""The exception tree. Every error llmobs raises on purpose is one of these.

* LlmobsError
  * ConfigError                  invalid or inconsistent configuration or arguments
  * ExpositionError              a /metrics body that cannot be read as Prometheus text
    * MalformedExposition        a line that breaks the format (says which line and why)
    * TruncatedExposition        the body ends early (mid-line, no ``# EOF``, a cut histogram)
  * TargetError                  a scrape target misbehaved
    * TargetUnreachable          connection refused, DNS failure, reset
    * TargetTimeout              no complete answer within the timeout (says how long)
    * TargetHTTPError            an answer with a non-2xx status, or a redirect loop
    * BodyTooLarge               the body is over the configured cap
  * UnknownEngine                a valid exposition with no vLLM, SGLang or Dynamo metrics
  * IncompatibleBuckets          histograms whose bucket bounds cannot be combined
  * ObservationError             a role observation document (``/v1/roles``) that cannot be read

Defined beside the code that raises them (one idea per module):

* ConfigError > TraceError (``llmobs.trace``)     a trace or dataset row, with its line number
* LlmobsError > SSEError (``llmobs.bench.sse``)   a server-sent event stream that is not one
* LlmobsError > EmulatorFailed (``llmobs.sim.child``)   the built-in emulator did not start
* LlmobsError > KubeStatus (``llmobs.sim.scale``)  a scale request refused, as a Kubernetes Status

Each class has a short ``reason`` code (``"timeout"``, ``"malformed"``, ...) that the
exporter counts and reports use; messages say what was found and what to do, and never hold a
secret (``llmobs.secrets``). Which exit code each means: ``llmobs.exitcodes``.
"""

from __future__ import annotations


class LlmobsError(Exception):
    """Base class of every error llmobs raises on purpose."""

    reason = "error"


class ConfigError(LlmobsError):
    reason = "config"


class ExpositionError(LlmobsError):
    reason = "exposition"


class MalformedExposition(ExpositionError):
    reason = "malformed"

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


class TruncatedExposition(ExpositionError):
    reason = "truncated"


class TargetError(LlmobsError):
    reason = "target"


class TargetUnreachable(TargetError):
    reason = "unreachable"


class TargetTimeout(TargetError):
    reason = "timeout"


class TargetHTTPError(TargetError):
    reason = "http_status"

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class BodyTooLarge(TargetError):
    reason = "too_large"


class UnknownEngine(LlmobsError):
    reason = "unknown_engine"


class IncompatibleBuckets(LlmobsError):
    reason = "incompatible_buckets"


class ObservationError(LlmobsError):
    reason = "observation"
