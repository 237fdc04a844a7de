// llama-server-one: static UI files, the manifest and model facts for the server.

#include "lsone_server.h"
#include "lsone_zip.h"

#include "gguf.h"

#include <cpp-httplib/httplib.h>

#include <cstdio>
#include <map>
#include <memory>
#include <mutex>

namespace {

const char * mime_type(const std::string & name) {
    static const std::map<std::string, const char *> types = {
        {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"}, {"mjs", "text/javascript; charset=utf-8"},
        {"css", "text/css; charset=utf-8"}, {"json", "application/json"},
        {"webmanifest", "application/manifest+json"}, {"map", "application/json"},
        {"svg", "image/svg+xml"}, {"png", "image/png"}, {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"},
        {"gif", "image/gif"}, {"ico", "image/x-icon"}, {"webp", "image/webp"},
        {"woff", "font/woff"}, {"woff2", "font/woff2"}, {"ttf", "font/ttf"}, {"otf", "font/otf"},
        {"txt", "text/plain; charset=utf-8"}, {"wasm", "application/wasm"}, {"xml", "application/xml"},
    };
    const size_t dot = name.rfind('.');
    auto it = dot == std::string::npos ? types.end() : types.find(name.substr(dot + 1));
    return it == types.end() ? "application/octet-stream" : it->second;
}

struct ui_file {
    std::shared_ptr<const std::string> body;
    const char * type;
};

// Request path -> file, filled once at startup before the server listens, read-only after.
std::map<std::string, ui_file> g_ui_files;

}  // namespace

bool lsone_serve_zip_dir(httplib::Server &, const std::string & api_prefix, const std::string & zip_dir) {
    const lsone::zip_archive & zip = lsone::self_zip();
    std::string prefix = zip_dir.substr(5);  // after "/zip/"
    while (!prefix.empty() && prefix.back() == '/') {
        prefix.pop_back();
    }
    prefix += "/";
    int served = 0;
    for (const auto & e : zip.entries) {
        if (e.name.compare(0, prefix.size(), prefix) != 0 || e.name.size() == prefix.size()) {
            continue;
        }
        // Read once at startup: every request is then served from memory, never re-read or re-compressed.
        auto body = std::make_shared<std::string>();
        std::string err;
        if (!lsone::read_entry(zip, e.name, *body, err)) {
            std::fprintf(stderr, "llama-server-one: %s\n", err.c_str());
            return false;
        }
        const std::string rel = e.name.substr(prefix.size());
        const ui_file file = {body, mime_type(rel)};
        g_ui_files[api_prefix + "/" + rel] = file;
        if (rel == "index.html") {
            g_ui_files[api_prefix + "/"] = file;
        }
        served++;
    }
    if (served == 0) {
        std::fprintf(stderr, "llama-server-one: --path %s: no files under %s in %s\n", zip_dir.c_str(),
                     prefix.c_str(), zip.path.c_str());
        return false;
    }
    return true;
}

bool lsone_serve_zip_file(const httplib::Request & req, httplib::Response & res) {
    if (req.method != "GET" && req.method != "HEAD") {
        return false;
    }
    auto it = g_ui_files.find(req.path);
    if (it == g_ui_files.end()) {
        return false;
    }
    res.status = 200;
    res.set_content(it->second.body->data(), it->second.body->size(), it->second.type);
    return true;
}

common_json lsone_manifest() {
    static const common_json manifest = [] {
        std::string text, err;
        if (!lsone::read_entry(lsone::self_zip(), "manifest.json", text, err)) {
            return common_json();
        }
        common_json parsed = common_json::parse_no_throw(text);
        if (parsed.is_discarded()) {
            std::fprintf(stderr, "llama-server-one: /zip/manifest.json is not valid JSON; /props shows null for it\n");
            return common_json();
        }
        return parsed;
    }();
    return manifest;
}

common_json lsone_model_general(const std::string & model_path) {
    static std::mutex mutex;
    static std::map<std::string, common_json> cache;
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(model_path);
    if (it != cache.end()) {
        return it->second;
    }
    common_json out = common_json::object();
    gguf_init_params params = {/*no_alloc =*/ true, /*ctx =*/ nullptr};
    if (gguf_context * ctx = model_path.empty() ? nullptr : gguf_init_from_file(model_path.c_str(), params)) {
        for (int64_t i = 0; i < gguf_get_n_kv(ctx); i++) {
            const std::string key = gguf_get_key(ctx, i);
            if (key.compare(0, 8, "general.") != 0) {
                continue;
            }
            // Strings may hold any bytes: the server's dump replaces invalid UTF-8; NaN and inf become null.
            switch (gguf_get_kv_type(ctx, i)) {
                case GGUF_TYPE_STRING:  out[key] = std::string(gguf_get_val_str(ctx, i)); break;
                case GGUF_TYPE_UINT32:  out[key] = (uint64_t) gguf_get_val_u32(ctx, i); break;
                case GGUF_TYPE_INT32:   out[key] = (int64_t) gguf_get_val_i32(ctx, i); break;
                case GGUF_TYPE_UINT64:  out[key] = gguf_get_val_u64(ctx, i); break;
                case GGUF_TYPE_FLOAT32: out[key] = (double) gguf_get_val_f32(ctx, i); break;
                case GGUF_TYPE_BOOL:    out[key] = gguf_get_val_bool(ctx, i); break;
                default: break;  // arrays and the rest: not shown
            }
        }
        gguf_free(ctx);
    }
    cache[model_path] = out;
    return out;
}
