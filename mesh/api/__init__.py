"""The mesh's gRPC surface: the ModelMesh and admin servicers and the inference proxy.
Servicers only unpack, call the services, pack and map errors (``errors.py``)."""
