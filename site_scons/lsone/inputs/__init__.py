"""fetch -> verify -> patch: pinned inputs, the store and its one door, toolchains' archives, models."""
