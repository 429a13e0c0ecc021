"""Background work of an instance: ``leader`` (election), ``reaper`` (leader only: copies
of dead instances, reloads after a failure, minimum copies), ``janitor`` (every instance:
registry vs local cache, failure expiry, idle extra copies), ``scaling`` (copies for
models used again and for hot models)."""
