// llama-server-one: the few operating-system calls the runtime makes, for Linux, macOS,
// Windows and Cosmopolitan.
//
// Only lsone_platform.cpp asks which system it is on; the rest of runtime/ is plain C++ over
// these functions. Descriptors are the C runtime's (on Windows the CRT's, over a HANDLE), paths
// are UTF-8.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace lsone {

// Opens path read-only and binary, not inherited by child processes, and without blocking
// when a FIFO stands in the file's place (it is refused later as not regular). -1 with errno.
int open_for_reading(const std::string & path);

// The running executable's own file: where the system can name the file this process runs
// (even after a rebuild renamed another over it), that file; else path. -1 with errno.
int open_self_exe(const std::string & path);

void close_file(int fd);

// Size of fd's file and whether it is a regular file. False (errno set) when it cannot tell.
bool file_status(int fd, uint64_t & size, bool & regular);

// Exactly len bytes at offset, retrying short reads; the descriptor's own file position is not
// used (pread, or ReadFile at an offset). False on an error or at the end of the file.
bool read_at(int fd, uint64_t offset, void * buf, size_t len);

// Up to len bytes from fd's file position: how many, 0 at the end of the file, -1 (errno) on an error.
long long read_some(int fd, void * buf, size_t len);

// The whole rest of fd's file, read from its file position. False with errno on an error.
bool read_to_end(int fd, std::string & out);

// A new descriptor on the same open file (never reopened by name), with a file position of its
// own; -1 where the system cannot give one. duplicate_descriptor: dup, which shares the position.
int reopen_descriptor(int fd);
int duplicate_descriptor(int fd);

// fseek to a 64-bit offset from the start of the file.
bool seek_stream(FILE * stream, uint64_t offset);

// A read-only view of [offset, offset + size) of fd's file, offset a multiple of 64 KiB (Windows'
// allocation granularity, and a whole number of pages everywhere). Null when it cannot be mapped.
const void * map_view(int fd, uint64_t offset, size_t size);
void unmap_view(const void * view, size_t size);

// The running executable's file name ("" when the system does not say).
std::string self_exe_path();

// Sets the environment variable name to value unless it is set already.
void set_env_default(const char * name, const std::string & value);

}  // namespace lsone
