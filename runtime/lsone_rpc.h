// llama-server-one: the RPC backend's two roles in one executable.
// Worker mode (tools/server/main.cpp) and the hooks that patches/000[89]-rpc-*.patch call from
// ggml-rpc.cpp and transport.cpp: failures name the worker and end cleanly, sockets time out,
// and a worker refuses graphs its CPU kernels would only check with assert().
#pragma once

#include <cerrno>
#include <cstdint>

struct ggml_cgraph;
struct ggml_tensor;

// main.cpp: true when the real command line's first argument is "rpc-server" (never an args layer).
bool lsone_rpc_worker_requested(int argc, char ** argv);
// The worker: argv[0] is "rpc-server", then upstream rpc-server's flags plus --allow-remote.
int lsone_rpc_worker_main(int argc, char ** argv);

// Server side (ggml-rpc.cpp's client): one line naming the worker, then exit(1) for a supervisor.
[[noreturn]] void lsone_rpc_fail(const char * endpoint, const char * what);
[[noreturn]] void lsone_rpc_connect_failed(const char * endpoint);  // reads errno
[[noreturn]] void lsone_rpc_version_mismatch(const char * endpoint, int major, int minor, int patch);
[[noreturn]] void lsone_rpc_lost(const char * endpoint, int cmd);  // reads errno

// transport.cpp: send/receive timeouts (LSONE_RPC_TIMEOUT seconds) on a socket before use.
// The server's side gets both; the worker's side only the send timeout, since a server may idle for hours.
void lsone_rpc_socket_timeouts(intptr_t fd, bool client);
// Seconds a server waits for a worker's answer.
int lsone_rpc_timeout_seconds();

// Worker side: false (with a logged reason) for a graph whose GET_ROWS/SET_ROWS shapes or strides
// would let the CPU kernels read or write outside their tensors.
bool lsone_rpc_graph_ok(const struct ggml_cgraph * graph);
// Worker side: false (logged) unless [offset, offset + size) lies inside the tensor, which
// ggml_backend_tensor_set/get would otherwise GGML_ASSERT, aborting the worker.
bool lsone_rpc_region_ok(const struct ggml_tensor * tensor, uint64_t offset, uint64_t size);
// Worker side: false (logged) for a tensor ggml would refuse with an abort (no such op, element
// count past int64, rows that are not whole blocks) or whose byte extent overflows, which would
// defeat the buffer bounds check that follows. ne and nb are the request's four sizes and strides.
bool lsone_rpc_tensor_ok(uint32_t type, uint32_t op, const uint32_t * ne, const uint32_t * nb);
// Worker side: false (logged) when COPY_TENSOR's source and destination bytes overlap.
bool lsone_rpc_copy_ok(const struct ggml_tensor * src, const struct ggml_tensor * dst);
