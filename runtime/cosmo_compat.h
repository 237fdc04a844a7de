// llama-server-one: source fixes for llama.cpp under cosmocc, in one file of ours.
//
// The cosmocc toolchain force-includes this into every C++ file (-include); no other
// toolchain sees it, and no upstream file needs a hunk, so a llama.cpp bump cannot conflict.
#pragma once

#if defined(__COSMOPOLITAN__)
// cosmocc's libc++ pulls in less transitively than libstdc++: upstream files use std::fill,
// std::max, std::copy, ... without including <algorithm> (27 files at the pinned commit).
#include <algorithm>
// PATH_MAX needs no fix: cosmo's <limits.h> defines it (1024), and llama-mmap.cpp includes <climits>.
// With -mcosmo, libc/mem/gc.h (pulled in by <cosmo.h>) defines function-like macros
// defer(FN, ARG), gc() and _gc(); defer() breaks server_queue::defer(task). Include it
// now, so its include guard keeps the macros from coming back later in the file, and drop them.
#include "libc/mem/gc.h"
#undef defer
#undef gc
#undef _gc
#endif
