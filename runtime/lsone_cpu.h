// llama-server-one: which CPU level ggml's CPU backend runs at, and why.
#pragma once

#include "json.h"  // common/json.h

// server-context.cpp (/props): {"level": ..., "reason": ..., "levels": [{"name", "score"}...]},
// built once at startup.
const common_json & lsone_cpu_level();
