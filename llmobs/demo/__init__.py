"""``llmobs demo``: the emulator, the exporter, the autoscaler and Prometheus on this machine,
a load that rises and falls, a live view, and a report with PNGs."""
