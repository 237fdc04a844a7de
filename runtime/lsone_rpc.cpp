// llama-server-one: how the server meets a failing RPC worker, and what a worker refuses.
// At the pin, an unreachable or lost worker aborted the server with a backtrace and a stalled one
// hung it forever. Here each ends in one line naming the worker and exit code 1, in bounded time,
// so a supervisor (systemd, a container runtime) restarts the server.

#include "lsone_rpc.h"

#include "ggml.h"
#include "ggml-rpc.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#ifdef _WIN32
#    include <winsock2.h>
#else
#    include <csignal>
#    include <netinet/in.h>
#    include <netinet/tcp.h>
#    include <sys/socket.h>
#    include <sys/time.h>
#endif

namespace {

const int DEFAULT_TIMEOUT_SECONDS = 600;  // one graph on a slow CPU worker may take minutes: not forever
// TCP keepalive: a peer that vanished without a word (power loss, cable) is found in about 2 minutes.
const int KEEPALIVE_IDLE_SECONDS = 60, KEEPALIVE_INTERVAL_SECONDS = 10, KEEPALIVE_PROBES = 6;

// Names of ggml-rpc.cpp's rpc_cmd values, in its order (protocol 7: HELLO is 14).
const char * const COMMAND_NAMES[] = {
    "ALLOC_BUFFER", "GET_ALIGNMENT", "GET_MAX_SIZE", "BUFFER_GET_BASE", "FREE_BUFFER", "BUFFER_CLEAR",
    "SET_TENSOR", "SET_TENSOR_HASH", "GET_TENSOR", "COPY_TENSOR", "GRAPH_COMPUTE", "GET_DEVICE_MEMORY",
    "INIT_TENSOR", "GET_ALLOC_SIZE", "HELLO", "DEVICE_COUNT", "GRAPH_RECOMPUTE", "MEMSET_TENSOR",
};

[[noreturn]] void stop(const std::string & line) {
    std::fprintf(stderr, "llama-server-one: %s\n", line.c_str());
    std::fflush(stderr);
    // _Exit: the failure may come from the RPC dispatcher's thread while others compute; running
    // static destructors under them would crash instead of exiting.
    std::_Exit(1);
}

bool refuse(const char * op, int node, const char * why) {
    std::fprintf(stderr, "rpc-server: refusing graph: %s node %d: %s; closing the connection\n", op, node, why);
    return false;
}

bool dense(const ggml_tensor * t) {  // elements of a row lie next to each other, as the kernels assume
    return t->nb[0] == ggml_type_size(t->type) && t->ne[0] % ggml_blck_size(t->type) == 0;
}

// The shape rules ggml_get_rows() enforces when it builds the op; an RPC graph skips the builder,
// and the CPU kernel repeats them only as assert(), which release builds remove.
bool get_rows_ok(const ggml_tensor * t, int i) {
    const ggml_tensor * rows = t->src[0], * idx = t->src[1];
    if (!rows || !idx) return refuse("GET_ROWS", i, "missing source");
    if (idx->type != GGML_TYPE_I32 || !dense(idx)) return refuse("GET_ROWS", i, "indices must be dense I32");
    if (!dense(rows) || !dense(t) || ggml_type_size(t->type) != 4) return refuse("GET_ROWS", i, "strides");
    if (t->ne[0] != rows->ne[0] || t->ne[1] != idx->ne[0] || t->ne[2] != idx->ne[1] || t->ne[3] != idx->ne[2] ||
        rows->ne[2] != idx->ne[1] || rows->ne[3] != idx->ne[2] || idx->ne[3] != 1) {
        return refuse("GET_ROWS", i, "shapes of rows, indices and result do not match");
    }
    return true;
}

// The same for ggml_set_rows(): src[0] the rows to write, src[1] their indices, the node the destination.
bool set_rows_ok(const ggml_tensor * t, int i) {
    const ggml_tensor * rows = t->src[0], * idx = t->src[1];
    if (!rows || !idx) return refuse("SET_ROWS", i, "missing source");
    if ((idx->type != GGML_TYPE_I32 && idx->type != GGML_TYPE_I64) || !dense(idx)) {
        return refuse("SET_ROWS", i, "indices must be dense I32 or I64");
    }
    if ((rows->type != GGML_TYPE_F32 && rows->type != GGML_TYPE_F16) || !dense(rows) || !dense(t)) {
        return refuse("SET_ROWS", i, "types or strides");
    }
    if (ggml_nelements(rows) > 0 && (idx->ne[1] == 0 || idx->ne[2] == 0)) {  // the kernel takes remainders by these
        return refuse("SET_ROWS", i, "indices with an empty dimension");
    }
    if (t->ne[0] != rows->ne[0] || t->ne[2] != rows->ne[2] || t->ne[3] != rows->ne[3] || idx->ne[0] != rows->ne[1] ||
        (ggml_nelements(rows) > 0 && (rows->ne[2] % idx->ne[1] != 0 || rows->ne[3] % idx->ne[2] != 0))) {
        return refuse("SET_ROWS", i, "shapes of rows, indices and destination do not match");
    }
    return true;
}

}  // namespace

int lsone_rpc_timeout_seconds() {
    const char * text = std::getenv("LSONE_RPC_TIMEOUT");
    if (!text || !*text) {
        return DEFAULT_TIMEOUT_SECONDS;
    }
    char * end = nullptr;
    long seconds = std::strtol(text, &end, 10);
    if (*end != '\0' || seconds <= 0 || seconds > 86400) {
        stop(std::string("LSONE_RPC_TIMEOUT=") + text + ": expected whole seconds from 1 to 86400 "
             "(how long to wait for an RPC worker's answer); fix: set a number such as 600, or unset it");
    }
    return (int) seconds;
}

void lsone_rpc_socket_timeouts(intptr_t fd, bool client) {
    const int seconds = lsone_rpc_timeout_seconds();
#ifdef _WIN32
    DWORD value = (DWORD) seconds * 1000;
#else
    timeval value = {seconds, 0};
#endif
    // On Linux the send timeout bounds connect() too.
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, (const char *) &value, sizeof(value));
    // A worker serves one server at a time and waits for it without a receive timeout (a server may
    // idle for hours): keepalive frees it from a server that is gone for good, so the next one is served.
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, (const char *) &on, sizeof(on));
#ifdef TCP_KEEPIDLE
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, (const char *) &KEEPALIVE_IDLE_SECONDS, sizeof(int));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, (const char *) &KEEPALIVE_INTERVAL_SECONDS, sizeof(int));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, (const char *) &KEEPALIVE_PROBES, sizeof(int));
#endif
    if (client) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, (const char *) &value, sizeof(value));
#ifndef _WIN32
        // transport.cpp sends without MSG_NOSIGNAL: a worker gone mid-send would kill the server by
        // SIGPIPE, before lsone_rpc_lost could say which worker it was.
        std::signal(SIGPIPE, SIG_IGN);
#endif
    }
}

void lsone_rpc_fail(const char * endpoint, const char * what) {
    stop(std::string("RPC worker ") + endpoint + ": " + what);
}

void lsone_rpc_connect_failed(const char * endpoint) {
    const int err = errno;
    stop(std::string("cannot reach RPC worker ") + endpoint + " (" + std::strerror(err) + "); start it there with '"
         "llama-server-one rpc-server -p PORT' (or check host and port), or remove it from --rpc");
}

void lsone_rpc_version_mismatch(const char * endpoint, int major, int minor, int patch) {
    char line[320];
    std::snprintf(line, sizeof(line), "RPC worker %s speaks RPC protocol %d.%d.%d, this server speaks %d.x "
                  "(at most minor %d); run the worker from this same file: llama-server-one rpc-server",
                  endpoint, major, minor, patch, RPC_PROTO_MAJOR_VERSION, RPC_PROTO_MINOR_VERSION);
    stop(line);
}

void lsone_rpc_lost(const char * endpoint, int cmd) {
    const int err = errno;
    const int n = (int) (sizeof(COMMAND_NAMES) / sizeof(COMMAND_NAMES[0]));
    std::string why = err == EAGAIN || err == EWOULDBLOCK
        ? "no answer within " + std::to_string(lsone_rpc_timeout_seconds()) + " s (LSONE_RPC_TIMEOUT); is it stopped or overloaded?"
        : err ? std::string(std::strerror(err)) : std::string("the worker closed the connection");
    stop(std::string("lost RPC worker ") + endpoint + " during " + (cmd >= 0 && cmd < n ? COMMAND_NAMES[cmd] : "?") +
         ": " + why + "; exiting (status 1) so a supervisor can restart the server once the worker is back");
}

bool lsone_rpc_graph_ok(const struct ggml_cgraph * graph) {
    auto * g = const_cast<ggml_cgraph *>(graph);
    for (int i = 0; i < ggml_graph_n_nodes(g); i++) {
        const ggml_tensor * t = ggml_graph_node(g, i);
        if (t->op == GGML_OP_GET_ROWS && !get_rows_ok(t, i)) return false;
        if (t->op == GGML_OP_SET_ROWS && !set_rows_ok(t, i)) return false;
    }
    return true;
}

bool lsone_rpc_region_ok(const struct ggml_tensor * tensor, uint64_t offset, uint64_t size) {
    const uint64_t nbytes = ggml_nbytes(tensor);
    if (offset <= nbytes && size <= nbytes - offset) {
        return true;
    }
    std::fprintf(stderr, "rpc-server: refusing a region of %llu bytes at offset %llu of a %llu-byte tensor; "
                 "closing the connection\n", (unsigned long long) size, (unsigned long long) offset,
                 (unsigned long long) nbytes);
    return false;
}

bool lsone_rpc_tensor_ok(uint32_t type, uint32_t op, const uint32_t * ne, const uint32_t * nb) {
    const auto t = (enum ggml_type) type;  // the caller checked type < GGML_TYPE_COUNT and a block size > 0
    const char * why = nullptr;
    int64_t elements = ne[0];
    uint64_t extent = 0;  // ggml_nbytes, checked for overflow
    if (op >= GGML_OP_COUNT) {
        why = "no such operation";  // the CPU backend aborts on it, and ggml_op_name reads past its table
    } else if (ne[0] % ggml_blck_size(t) != 0) {
        why = "a row is not whole blocks of its type";
    }
    for (int i = 1; i < 4 && !why; i++) {
        if (ne[i] > 1 && __builtin_mul_overflow(elements, (int64_t) ne[i], &elements)) {
            why = "more elements than int64 holds";
        }
    }
    if (!why && ne[0] && ne[1] && ne[2] && ne[3]) {
        extent = ggml_blck_size(t) == 1 ? ggml_type_size(t) : 0;
        uint64_t term = 0;
        if (ggml_blck_size(t) != 1 && (__builtin_mul_overflow((uint64_t) ne[0], (uint64_t) nb[0], &term) ||
                                       __builtin_add_overflow(extent, term / ggml_blck_size(t), &extent))) {
            why = "its byte size overflows";
        }
        for (int i = ggml_blck_size(t) == 1 ? 0 : 1; i < 4 && !why; i++) {
            if (__builtin_mul_overflow((uint64_t) ne[i] - 1, (uint64_t) nb[i], &term) ||
                __builtin_add_overflow(extent, term, &extent)) {
                why = "its byte size overflows";
            }
        }
    }
    if (why) {
        std::fprintf(stderr, "rpc-server: refusing a tensor of %u x %u x %u x %u %s (op %u): %s; closing the connection\n",
                     ne[0], ne[1], ne[2], ne[3], ggml_type_name(t), op, why);
    }
    return !why;
}

bool lsone_rpc_copy_ok(const struct ggml_tensor * src, const struct ggml_tensor * dst) {
    const auto from = (uintptr_t) src->data, to = (uintptr_t) dst->data;
    const size_t n = ggml_nbytes(src);  // what the copy moves; dst was checked to hold that many
    if (n == 0 || from + n <= to || to + n <= from) {
        return true;
    }
    std::fprintf(stderr, "rpc-server: refusing COPY_TENSOR between overlapping bytes; closing the connection\n");
    return false;
}

