"""llmbench: open-loop load against OpenAI-compatible servers, measured like vLLM's
``bench serve`` (same metric definitions), with schedule lag, client self-health and the
servers' own /metrics beside the client's numbers.

Pure parts: ``arrivals`` (when to send), ``workload`` (what to send), ``metrics`` (what the
records mean), ``sse`` (parsing a stream). Shells: ``client`` (one request), ``runner`` (the
open loop, workers), ``serverside`` (scraping during a run), ``report`` and ``plots``.
"""
