"""Small shared core: errors, registries, settings, hashing, provenance, determinism."""
