"""The engine emulator: a GPU-free vLLM/SGLang stand-in with a real performance model.

One model, two clocks: ``EngineCore`` (scheduler, KV cache, roofline step times, metrics)
is driven in real time by the HTTP server (``llmobs sim``) and in virtual time by the
discrete-event simulator (``llmobs.sim.virtual``) that replays traces in seconds of CPU.
"""
