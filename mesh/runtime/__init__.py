"""How the mesh talks to a model runtime: the client interface and its gRPC implementation."""
