"""etcd's v3 gRPC API, trimmed to what ``mesh/kv/etcd.py`` uses; stubs from ``make protos``."""
