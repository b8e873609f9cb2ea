"""Rate limits: counters in Redis (shared by every instance) or in memory (the embedded default)."""
