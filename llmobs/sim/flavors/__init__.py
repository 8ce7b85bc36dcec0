"""How an emulated engine presents itself on /metrics: one module per engine, per version."""
