// llama-server-one rpc-server: this same file as a worker for another server's --rpc.
//
// The protocol has no authentication: whoever reaches the port can allocate memory, read and
// write buffers and run graphs (with -c, write files). So the worker listens on loopback unless
// --allow-remote says otherwise, and the mode comes only from the real command line (main.cpp),
// never from a package's embedded args. Flags and defaults follow upstream's tools/rpc/rpc-server,
// except that an unknown argument is an error (exit 2), not a usage text with exit 0.

#include "lsone_cpu.h"
#include "lsone_rpc.h"

#include "common.h"
#include "ggml-backend.h"
#include "ggml-rpc.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#ifdef _WIN32
#    include <winsock2.h>
#    include <ws2tcpip.h>
#else
#    include <arpa/inet.h>
#    include <netinet/in.h>
#    include <sys/socket.h>
#    include <unistd.h>
#endif

namespace {

const char * const USAGE =
    "usage: llama-server-one rpc-server [options]\n"
    "\n"
    "Serve this machine's devices to a llama-server-one started elsewhere with --rpc HOST:PORT.\n"
    "\n"
    "options:\n"
    "  -h, --help               show this help and exit\n"
    "  -t, --threads N          threads for the CPU device (default: %d)\n"
    "  -d, --device DEV1,DEV2   devices to serve (default: every accelerator, else the CPU)\n"
    "  -H, --host HOST          IPv4 address to listen on (default: 127.0.0.1)\n"
    "  -p, --port PORT          port to listen on (default: 50052)\n"
    "  -c, --cache              keep received tensors in a local file cache\n"
    "      --allow-remote       listen on a non-loopback address (the protocol has no authentication)\n";

struct worker_params {
    std::string host = "127.0.0.1";
    int port = 50052;
    int n_threads = (int) std::max(1u, std::thread::hardware_concurrency() / 2);
    std::vector<std::string> devices;
    bool use_cache = false;
    bool allow_remote = false;
};

int usage_error(const std::string & message, const worker_params & defaults) {
    std::fprintf(stderr, "rpc-server: %s\n\n", message.c_str());
    std::fprintf(stderr, USAGE, defaults.n_threads);
    return 2;
}

bool parse_int(const char * text, int lo, int hi, int & out) {
    char * end = nullptr;
    long v = std::strtol(text, &end, 10);
    if (!*text || *end || v < lo || v > hi) {
        return false;
    }
    out = (int) v;
    return true;
}

// 0 to go on; otherwise the exit code (after --help, or an error already printed).
int parse(int argc, char ** argv, worker_params & p, bool & help) {
    const worker_params defaults;
    for (int i = 1; i < argc; i++) {
        const std::string arg = argv[i];
        const bool takes_value = arg == "-H" || arg == "--host" || arg == "-p" || arg == "--port" ||
                                 arg == "-t" || arg == "--threads" || arg == "-d" || arg == "--device";
        if (takes_value && i + 1 >= argc) {
            return usage_error(arg + " needs a value", defaults);
        }
        if (arg == "-h" || arg == "--help") {
            help = true;
            std::printf(USAGE, defaults.n_threads);
            return 0;
        } else if (arg == "-H" || arg == "--host") {
            p.host = argv[++i];
        } else if (arg == "-p" || arg == "--port") {
            if (!parse_int(argv[++i], 1, 65535, p.port)) {
                return usage_error(arg + " " + argv[i] + ": expected a port from 1 to 65535", defaults);
            }
        } else if (arg == "-t" || arg == "--threads") {
            if (!parse_int(argv[++i], 1, 4096, p.n_threads)) {
                return usage_error(arg + " " + argv[i] + ": expected a thread count from 1 to 4096", defaults);
            }
        } else if (arg == "-d" || arg == "--device") {
            std::string list = argv[++i];
            for (size_t start = 0; start <= list.size();) {
                size_t end = list.find_first_of(",/", start);
                end = end == std::string::npos ? list.size() : end;
                if (end > start) {
                    p.devices.push_back(list.substr(start, end - start));
                }
                start = end + 1;
            }
        } else if (arg == "-c" || arg == "--cache") {
            p.use_cache = true;
        } else if (arg == "--allow-remote") {
            p.allow_remote = true;
        } else {
            return usage_error("unknown argument: " + arg, defaults);
        }
    }
    return 0;
}

bool is_loopback(const std::string & host, bool & valid) {
    in_addr addr {};
    valid = inet_pton(AF_INET, host.c_str(), &addr) == 1;
    return valid && (ntohl(addr.s_addr) >> 24) == 127;
}

std::vector<ggml_backend_dev_t> choose_devices(const worker_params & p) {
    std::vector<ggml_backend_dev_t> chosen;
    for (const auto & name : p.devices) {
        ggml_backend_dev_t dev = ggml_backend_dev_by_name(name.c_str());
        if (!dev) {
            std::string names;
            for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
                names += std::string(i ? ", " : "") + ggml_backend_dev_name(ggml_backend_dev_get(i));
            }
            std::fprintf(stderr, "rpc-server: --device %s: no such device; this machine has: %s\n", name.c_str(),
                         names.c_str());
            return {};
        }
        chosen.push_back(dev);
    }
    for (size_t i = 0; chosen.empty() && p.devices.empty() && i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        auto type = ggml_backend_dev_type(dev);
        if (type != GGML_BACKEND_DEVICE_TYPE_CPU && type != GGML_BACKEND_DEVICE_TYPE_ACCEL) {
            chosen.push_back(dev);
        }
    }
    if (chosen.empty() && p.devices.empty()) {
        if (ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU)) {
            chosen.push_back(cpu);
        }
    }
    return chosen;
}

// Upstream's server returns silently when it cannot listen; try the address first for a clear error.
bool can_listen(const worker_params & p) {
#ifdef _WIN32
    (void) p;
    return true;  // sockets need WSAStartup, which ggml's transport does; it reports a failed bind itself
#else
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr {};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t) p.port);
    inet_pton(AF_INET, p.host.c_str(), &addr.sin_addr);
    const bool ok = fd >= 0 && bind(fd, (sockaddr *) &addr, sizeof(addr)) == 0;
    const int err = errno;
    if (fd >= 0) {
        close(fd);
    }
    if (!ok) {
        std::fprintf(stderr, "rpc-server: cannot listen on %s:%d: %s; fix: choose a free port with -p, or stop "
                     "what holds this one\n", p.host.c_str(), p.port, std::strerror(err));
    }
    return ok;
#endif
}

}  // namespace

bool lsone_rpc_worker_requested(int argc, char ** argv) {
    return argc > 1 && std::strcmp(argv[1], "rpc-server") == 0;
}

int lsone_rpc_worker_main(int argc, char ** argv) {
    worker_params p;
    bool help = false;
    if (int rc = parse(argc, argv, p, help); rc || help) {
        return rc;
    }
    bool valid = false;
    const bool loopback = is_loopback(p.host, valid);
    if (!valid) {
        std::fprintf(stderr, "rpc-server: -H %s: expected an IPv4 address such as 127.0.0.1\n", p.host.c_str());
        return 2;
    }
    if (!loopback && !p.allow_remote) {
        std::fprintf(stderr,
            "rpc-server: refusing to listen on %s: the RPC protocol has no authentication, so anyone who reaches\n"
            "  the port can use this machine's memory and compute (and with -c write files).\n"
            "  fix: keep the default 127.0.0.1 and reach it through a tunnel, e.g. from the server's machine\n"
            "       ssh -N -L 50052:127.0.0.1:%d USER@THIS_HOST   then   --rpc 127.0.0.1:50052\n"
            "  (or WireGuard); on a network you trust, add --allow-remote\n", p.host.c_str(), p.port);
        return 2;
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // upstream's server reports on stdout: keep a service's log current
#ifndef _WIN32
    std::signal(SIGPIPE, SIG_IGN);  // a server that dies mid-send must not kill the worker
#endif
    const common_json & cpu = lsone_cpu_level();
    std::fprintf(stderr, "rpc-server: CPU level %s: %s\n", cpu.at("level").get<std::string>().c_str(),
                 cpu.at("reason").get<std::string>().c_str());
    const std::vector<ggml_backend_dev_t> devices = choose_devices(p);
    if (devices.empty()) {
        std::fprintf(stderr, "rpc-server: no device to serve\n");
        return 1;
    }
    std::string cache_dir;
    if (p.use_cache) {
        const std::filesystem::path dir = fs_get_cache_directory() / "rpc";
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        if (ec) {
            std::fprintf(stderr, "rpc-server: -c: cannot create the cache directory %s: %s\n", dir.string().c_str(),
                         ec.message().c_str());
            return 1;
        }
        cache_dir = dir.string();
    }
    if (!can_listen(p)) {
        return 1;
    }
    const std::string endpoint = p.host + ":" + std::to_string(p.port);
    std::vector<ggml_backend_dev_t> devs = devices;
    // Serves clients one after another until it cannot listen or accept; a bad client only closes its connection.
    ggml_backend_rpc_start_server(endpoint.c_str(), cache_dir.empty() ? nullptr : cache_dir.c_str(),
                                  (size_t) p.n_threads, devs.size(), devs.data());
    std::fprintf(stderr, "rpc-server: stopped serving %s (see the error above)\n", endpoint.c_str());
    return 1;
}
