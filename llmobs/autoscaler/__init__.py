"""The autoscaler: prefill sized by TTFT, decode by TPOT/ITL and KV pressure, separately.

``model`` holds the contract every part speaks (decisions and their reasons, replica
counts, the source and actuator protocols, the uniform ``Policy`` the simulator drives);
``policy`` is the pure decision function; sources read observations, actuators set replicas,
``keda`` serves KEDA's external-scaler gRPC protocol, ``service`` runs the loop.
"""
