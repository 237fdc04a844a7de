// llama-server-one: source fixes for llama.cpp under cosmocc, in one file of ours.
//
// The cosmocc toolchain force-includes this into every C++ file (-include); no other
// toolchain sees it, and no upstream file needs a hunk, so a llama.cpp bump cannot conflict.
#pragma once

#if defined(__COSMOPOLITAN__)
// cosmocc's libc++ pulls in less transitively than libstdc++: upstream files use std::fill,
// std::max, std::copy, ... without including <algorithm> (27 files at the pinned commit).
#include <algorithm>
// PATH_MAX (llama-mmap.cpp's llama_path_max) is not in cosmo's <limits.h>.
#include <linux/limits.h>
// -mcosmo makes <cosmo.h> define a function-like macro `defer(FN, ARG)`, which breaks
// server_queue::defer(task). Include it now, so its include guard keeps the macro from
// coming back later in the file, and drop it.
#include <cosmo.h>
#undef defer
#endif
