"""The mesh: registry, LRU cache, loading, routing, the ModelMesh API and the CLI."""
