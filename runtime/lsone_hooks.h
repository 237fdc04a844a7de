// llama-server-one: the entry points our small hunks in upstream files call.
// Each is a no-op for ordinary paths, so upstream behaviour is unchanged.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

struct gguf_context;
struct gguf_init_params;

// gguf.cpp: read a GGUF's header straight from a /zip/ entry. Returns true if
// fname was a /zip/ path (then *result is the context, or null after an error).
bool lsone_gguf_from_zip(const char * fname, const struct gguf_init_params & params, struct gguf_context ** result);

// llama-mmap.cpp: open a /zip/ entry as a view of the executable. Returns null for
// other paths; throws std::runtime_error for a bad entry. base/size describe the view.
FILE * lsone_zip_fopen(const std::string & fname, size_t & base, size_t & size);
// The view's offset inside the file behind fd (0 when fd is not a zip view), for mmap.
// Throws std::runtime_error when fstat shows the executable no longer holds the view.
size_t lsone_zip_view_base(int fd);
// Called before a view's FILE is closed.
void lsone_zip_view_close(FILE * fp);
