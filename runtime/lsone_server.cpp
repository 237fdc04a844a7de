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

std::string json_string(const std::string & s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += (char) c;
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            out += buf;
        } else {
            out += (char) c;
        }
    }
    return out + "\"";
}

}  // namespace

bool lsone_serve_zip_dir(httplib::Server & srv, const std::string & api_prefix, const std::string & zip_dir) {
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
        const char * type = mime_type(rel);
        auto handler = [body, type](const httplib::Request &, httplib::Response & res) {
            res.set_content(body->data(), body->size(), type);
        };
        srv.Get(api_prefix + "/" + rel, handler);
        if (rel == "index.html") {
            srv.Get(api_prefix + "/", handler);
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

std::string lsone_manifest_json() {
    std::string text, err;
    return lsone::read_entry(lsone::self_zip(), "manifest.json", text, err) ? text : "null";
}

std::string lsone_model_general_json(const std::string & model_path) {
    static std::mutex mutex;
    static std::map<std::string, std::string> cache;
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(model_path);
    if (it != cache.end()) {
        return it->second;
    }
    std::string out = "{";
    gguf_init_params params = {/*no_alloc =*/ true, /*ctx =*/ nullptr};
    if (gguf_context * ctx = model_path.empty() ? nullptr : gguf_init_from_file(model_path.c_str(), params)) {
        for (int64_t i = 0; i < gguf_get_n_kv(ctx); i++) {
            const std::string key = gguf_get_key(ctx, i);
            if (key.compare(0, 8, "general.") != 0) {
                continue;
            }
            std::string value;
            switch (gguf_get_kv_type(ctx, i)) {
                case GGUF_TYPE_STRING:  value = json_string(gguf_get_val_str(ctx, i)); break;
                case GGUF_TYPE_UINT32:  value = std::to_string(gguf_get_val_u32(ctx, i)); break;
                case GGUF_TYPE_INT32:   value = std::to_string(gguf_get_val_i32(ctx, i)); break;
                case GGUF_TYPE_UINT64:  value = std::to_string(gguf_get_val_u64(ctx, i)); break;
                case GGUF_TYPE_FLOAT32: value = std::to_string(gguf_get_val_f32(ctx, i)); break;
                case GGUF_TYPE_BOOL:    value = gguf_get_val_bool(ctx, i) ? "true" : "false"; break;
                default: continue;  // arrays and the rest: not shown
            }
            out += (out.size() > 1 ? "," : "") + json_string(key) + ":" + value;
        }
        gguf_free(ctx);
    }
    out += "}";
    cache[model_path] = out;
    return out;
}
