"""Cluster state: the KV store interface (store.py), its backends and the key layout."""
