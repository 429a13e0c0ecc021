"""The ``modelmesh`` command line.

``main.py`` parses and dispatches; ``models.py``, ``vmodels.py`` and ``predict.py`` are the
client commands talking to a running mesh over gRPC; ``inputs.py`` turns a predict input
into arrays; ``progress.py`` waits for a load and reports it; ``output.py`` renders
statuses and tables; ``errors.py`` says what went wrong in one line.
"""
