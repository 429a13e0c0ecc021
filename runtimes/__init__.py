"""Model runtimes that speak ModelRuntime + KServe V2; ``python`` is the built-in one."""
