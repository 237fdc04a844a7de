"""Plain-Python core of llama-server-one: hashing, locks, the store, fetching
and patching. Nothing here imports SCons, so tests use it directly."""
