"""End-to-end tests: `modelmesh serve` processes on one real etcd, driven over gRPC.

``processes`` starts and stops the instances (and reads the registry they share);
``client`` is a Service-like client with retries and a steady traffic generator. The
benchmarks in bench/ reuse both.
"""
