"""Language-model providers: per-workspace settings, adapters, retries, fallback, usage accounting."""
