"""The controller: KServe resources in, mesh registrations and status out.

Reads top-down: ``main`` (start, watch, stop) -> ``watching`` (list/watch into a cache,
one pass per object at a time) -> ``handling`` (one pass: fetch, plan, apply, report)
-> ``sources`` + ``runtimes`` (what a resource wants; pure) -> ``reconcile`` (desired vs
the mesh's vmodel -> steps; pure) -> ``apply`` (steps as ModelMesh gRPC calls) and
``kube`` (the Kubernetes API) -> ``status`` (the mesh's answer as the resource's status;
pure). Settings come from the environment once, in ``settings``.
"""
