"""Models in storage: the ``storage-config`` format, locations, and the puller.

Read in the order a load uses them:

- ``config.py``     ``StorageConfig``: the storage-config directory, re-read when it changes
- ``locations.py``  ``locate``: a model's path and key -> a ``Source``, a ``MountedPath`` or
                    None (a local model)
- ``s3.py``, ``gcs.py``, ``azure.py``, ``http.py``, ``pvc.py``  one module per storage type
- ``puller.py``     ``Puller``: downloads into a local cache, counts and removes the bytes
- ``files.py``      key checks and confined writes; ``transport.py`` HTTP(S) and TLS
- ``errors.py``     ``StorageError`` and its gRPC codes; ``redact``
"""

from modelmesh.runtimes.storage.config import StorageConfig, StorageEntry
from modelmesh.runtimes.storage.errors import StorageError
from modelmesh.runtimes.storage.locations import locate, names_storage, with_disk_size
from modelmesh.runtimes.storage.puller import PulledModel, Puller
from modelmesh.runtimes.storage.sources import MountedPath, Source

__all__ = [
    "MountedPath",
    "PulledModel",
    "Puller",
    "Source",
    "StorageConfig",
    "StorageEntry",
    "StorageError",
    "locate",
    "names_storage",
    "with_disk_size",
]
