"""The harness behind bench/warm.py, cold.py, churn.py and density.py: each system the same
way, from outside, over loopback.

- ``venvs``: MLServer's and Ray's own virtual environments under ``~/.cache/modelmesh/peer-venvs/``;
- ``process``: a server process (own session, log file, stopped as a group);
- ``mesh``, ``mlserver``, ``ray_serve`` (+ ``ray_app``, run by Ray's Python): start, stop,
  register or load a model, infer;
- ``clients``: the model files, the request payloads, gRPC and HTTP callers;
- ``workload``: closed-loop load, trace replay, Zipf, the ideal LRU, RSS;
- ``profiling``: py-spy summaries for a missed target.
"""
