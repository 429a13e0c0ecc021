"""ModelMesh in Python: the import root.

The subpackages live in the repository's top-level folders and are linked here:
``modelmesh.mesh`` (mesh/), ``modelmesh.runtimes`` (runtimes/), ``modelmesh.protos`` (protos/),
``modelmesh.controller`` (controller/).
"""

__version__ = "0.1.0"
