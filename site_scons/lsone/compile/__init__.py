"""compile -> link: what the compile steps share (the CPU levels)."""
