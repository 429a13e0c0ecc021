"""The built-in Python runtime: scikit-learn, XGBoost, LightGBM, ONNX and custom Python models.

Read top-down:

- ``settings.py``   every environment variable the runtime reads, once
- ``runtime.py``    ``PythonRuntime``: loads (bounded, timed out), sizes, metadata, inference
- ``paths.py``      modelPath resolved inside the models root; the model file in a directory
- ``formats/``      one module per format: its loader and its ``Model``
- ``custom.py``     ``CustomModel``, the base class for your own models (documented there)
- ``sizing.py``     how a model's memory is measured
- ``predicting.py`` one prediction: inline or in a thread, and its errors
- ``errors.py``     ``RuntimeFailure`` and its gRPC codes
- ``servicers.py``  ``ModelRuntime`` + KServe V2 over gRPC; ``server.py`` runs them
- ``inprocess.py``  the mesh's ``RuntimeClient`` over a runtime in the mesh's own process

Nothing is imported here, so reading the settings does not load the model libraries.
"""
