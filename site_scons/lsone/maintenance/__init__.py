"""Commands outside the build: bumping llama.cpp and its report, pruning the cache."""
