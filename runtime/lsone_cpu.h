// llama-server-one: which CPU level ggml's CPU backend runs at, and why.
#pragma once

#include <string>

// server-context.cpp (/props): {"level": ..., "reason": ..., "levels": [{"name", "score"}...]} as JSON text.
std::string lsone_cpu_level_json();
