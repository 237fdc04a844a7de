// libFuzzer target: the RPC worker's command decoding, as patched (patches/0009-rpc-*.patch).
//
// The input is one client's byte stream to `llama-server-one rpc-server`. The worker's serve loop
// is static in ggml-rpc.cpp, so this file includes that file and stands in for transport.cpp with
// an in-memory socket: reads come from the input, writes are dropped. The device is a stand-in over
// ggml's CPU buffer type with 64 MiB; its graph compute runs no kernel (they are not what this target
// tests) but reads the first and last byte of every tensor the decoder accepted, so AddressSanitizer
// reports any tensor that the checks let point outside its buffer.
//
// The fuzzer cannot guess the worker's pointers, so the input names them by placeholder: an 8-byte
// word 0xB0F5'kkkk'0000'0000 is the k-th buffer ALLOC_BUFFER returned in this run, and
// 0xDA7A'kkkk'oooo'oooo that buffer's base address plus the offset o. Without them, every request
// that names a buffer would fail the worker's first lookup and the checks behind it would go untested.
#include "ggml-rpc/ggml-rpc.cpp"

#include "ggml-backend-impl.h"

namespace {

const size_t DEVICE_BYTES = 64u << 20;

const uint8_t * g_input;
size_t g_input_size;
std::vector<std::pair<uint64_t, uint64_t>> g_buffers;  // handle and base of each buffer allocated this run
int g_last_command = -1;

const uint64_t BUFFER_TAG = 0xB0F5, DATA_TAG = 0xDA7A;

void substitute_placeholders(uint8_t * p, size_t n) {
    for (size_t i = 0; i + 8 <= n; i++) {
        uint64_t word;
        memcpy(&word, p + i, 8);
        const uint64_t tag = word >> 48, k = (word >> 32) & 0xFFFF;
        if ((tag != BUFFER_TAG && tag != DATA_TAG) || k >= g_buffers.size()) {
            continue;
        }
        word = tag == BUFFER_TAG ? g_buffers[k].first : g_buffers[k].second + (uint32_t) word;
        memcpy(p + i, &word, 8);
        i += 7;
    }
}

const char * name(ggml_backend_t) { return "fuzz"; }
const char * dev_name(ggml_backend_dev_t) { return "FUZZ0"; }
void dev_memory(ggml_backend_dev_t, size_t * free, size_t * total) { *free = *total = DEVICE_BYTES; }
enum ggml_backend_dev_type dev_type(ggml_backend_dev_t) { return GGML_BACKEND_DEVICE_TYPE_GPU; }

ggml_backend_buffer_t alloc_buffer(ggml_backend_buffer_type_t, size_t size) {
    // A device out of memory answers null, as ggml's do; ALLOC_BUFFER then reports remote_ptr 0.
    return size > DEVICE_BYTES ? nullptr : ggml_backend_buft_alloc_buffer(ggml_backend_cpu_buffer_type(), size);
}
size_t alignment(ggml_backend_buffer_type_t) { return ggml_backend_buft_get_alignment(ggml_backend_cpu_buffer_type()); }
size_t max_size(ggml_backend_buffer_type_t) { return DEVICE_BYTES; }

ggml_backend_buffer_type stand_in_buft = {
    /* .iface = */ {[](ggml_backend_buffer_type_t) { return "FUZZ"; }, alloc_buffer, alignment, max_size, nullptr,
                    [](ggml_backend_buffer_type_t) { return true; }},
    /* .device = */ nullptr,
    /* .context = */ nullptr,
};
ggml_backend_buffer_type_t dev_buft(ggml_backend_dev_t) { return &stand_in_buft; }

void touch(const ggml_tensor * t) {
    if (t && t->buffer && t->data) {
        const size_t n = ggml_nbytes(t);
        if (n) {
            volatile const char * p = (const char *) t->data;
            (void) p[0];
            (void) p[n - 1];
        }
    }
}

enum ggml_status compute(ggml_backend_t, ggml_cgraph * graph) {
    for (int i = 0; i < ggml_graph_n_nodes(graph); i++) {
        const ggml_tensor * node = ggml_graph_node(graph, i);
        touch(node);
        for (const ggml_tensor * src : node->src) {
            touch(src);
        }
    }
    return GGML_STATUS_SUCCESS;
}

ggml_backend_t stand_in_backend() {
    static ggml_backend_device device = {};
    static ggml_backend backend = {};
    device.iface.get_name = dev_name;
    device.iface.get_description = dev_name;
    device.iface.get_memory = dev_memory;
    device.iface.get_type = dev_type;
    device.iface.get_buffer_type = dev_buft;
    stand_in_buft.device = &device;
    backend.iface.get_name = name;
    backend.iface.graph_compute = compute;
    backend.device = &device;
    return &backend;
}

}  // namespace

// The in-memory transport: the only socket is the one create_server makes over the current input.
// Every request is a command byte, then its 8-byte length, then the payload. recv_msg sizes a
// vector from that length before reading: a length beyond the stream would only allocate and zero
// that much, then fail the read. This transport ends the stream there instead, so libFuzzer's
// memory limits catch leaks and real overreads, not declared lengths.
struct socket_t::impl {
    const uint8_t * data;
    size_t size;
    size_t pos;
    bool after_command;  // the next 8-byte read is a request's length
};
socket_t::socket_t(std::unique_ptr<impl> p) : pimpl(std::move(p)) {}
socket_t::~socket_t() = default;
bool socket_t::send_data(const void * data, size_t size) {
    rpc_msg_alloc_buffer_rsp rsp;
    if (g_last_command == RPC_CMD_ALLOC_BUFFER && size == sizeof(rsp)) {  // the payload, after its length
        memcpy(&rsp, data, sizeof(rsp));
        if (rsp.remote_ptr) {  // alive now: its base is read here, never later through a handle that may be freed
            auto * buffer = reinterpret_cast<ggml_backend_buffer_t>(rsp.remote_ptr);
            g_buffers.emplace_back(rsp.remote_ptr, (uint64_t) ggml_backend_buffer_get_base(buffer));
        }
    }
    return true;
}
bool socket_t::recv_data(void * out, size_t n) {
    if (n > pimpl->size - pimpl->pos) {
        return false;  // the client hung up
    }
    if (n) {
        memcpy(out, pimpl->data + pimpl->pos, n);
    }
    pimpl->pos += n;
    const bool length = pimpl->after_command && n == sizeof(uint64_t);
    pimpl->after_command = n == 1;
    if (n == 1) {
        g_last_command = *(const uint8_t *) out;
    } else if (!length) {
        substitute_placeholders((uint8_t *) out, n);
    }
    if (length) {
        uint64_t declared;
        memcpy(&declared, out, sizeof(declared));
        return declared <= pimpl->size - pimpl->pos;
    }
    return true;
}
bool socket_t::flush() { return true; }
void socket_t::get_caps(uint8_t * caps) { memset(caps, 0, RPC_CONN_CAPS_SIZE); }
void socket_t::update_caps(const uint8_t *) {}
socket_ptr socket_t::accept() { return nullptr; }
socket_ptr socket_t::connect(const char *, int) { return nullptr; }
socket_ptr socket_t::create_server(const char *, int) {
    return socket_ptr(new socket_t(std::make_unique<impl>(impl{g_input, g_input_size, 0, false})));
}
bool rpc_transport_init() { return true; }
void rpc_transport_shutdown() {}

// A device out of memory is an answer, not an error: ALLOC_BUFFER may ask for any size.
extern "C" const char * __asan_default_options() { return "allocator_may_return_null=1"; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    static const std::vector<ggml_backend_t> backends = {stand_in_backend()};
    static bool quiet = [] {
        ggml_log_set([](ggml_log_level, const char *, void *) {}, nullptr);  // refusals are expected here
        return true;
    }();
    (void) quiet;
    g_input = data;
    g_input_size = size;
    g_buffers.clear();
    g_last_command = -1;
    rpc_serve_client(backends, nullptr, socket_t::create_server("fuzz", 0));
    return 0;
}
