"""Adapters: ``ModelRuntime`` in front of third-party model servers (``modelmesh adapter``).

The mesh drives an adapter as it drives any runtime (``MM_RUNTIME=grpc``): ``loadModel``,
``unloadModel`` and sizes go to the adapter at ``INTERNAL_GRPC_PORT``, which translates them
into the server's own model management API; inference goes from the mesh straight to the
server's gRPC port (``INTERNAL_SERVING_GRPC_PORT``), the model id written where each
method's ``idInjectionPath`` says. Read top-down:

- ``settings.py``       every environment variable, once
- ``server.py``         the process: ``ModelRuntime`` servicer, start, stop
- ``base.py``           ``AdapterRuntime``: single-flight loads, concurrency, timeout, sizes,
                        purge; ``ServerAdapter``, what each server module implements
- ``v2_repository.py``  the V2 repository API (MLServer, Triton)
- ``mlserver.py``, ``triton.py``, ``torchserve.py``, ``tfserving.py``  one server each
- ``repository.py``     the model layouts the adapter writes for its server
- ``http_api.py``       JSON over HTTP, and the server's message in an error reply
- ``errors.py``         ``ServerError`` and the HTTP status -> gRPC code mapping

Nothing is imported here, so ``modelmesh adapter`` loads only the module of its server.
"""
