// llama-server-one: the default model alias, --version's package line and --manifest.

#include "lsone_package.h"
#include "lsone_platform.h"
#include "lsone_server.h"
#include "lsone_zip.h"

#include <cstdio>
#include <cstdlib>

namespace lsone {

namespace {

bool is_option(const std::string & arg, const char * short_name, const char * long_name) {
    const std::string eq = std::string(long_name) + "=";
    return arg == short_name || arg == long_name || arg.compare(0, eq.size(), eq) == 0;
}

std::string option_value(const std::vector<std::string> & args, size_t i) {
    const size_t eq = args[i].find('=');
    if (args[i].compare(0, 2, "--") == 0 && eq != std::string::npos) {
        return args[i].substr(eq + 1);
    }
    return i + 1 < args.size() ? args[i + 1] : "";
}

void print_summary() {  // runs at exit, after upstream's --version lines (also on stderr)
    const common_json manifest = lsone_manifest();
    if (manifest.is_object() && manifest.contains("summary") && manifest["summary"].is_string()) {
        std::fprintf(stderr, "%s\n", manifest["summary"].get<std::string>().c_str());
    }
}

void default_alias(const std::vector<std::string> & args) {
    std::string model;
    for (size_t i = 0; i < args.size(); i++) {
        if (is_option(args[i], "-a", "--alias")) {
            return;  // the user's own alias wins
        }
        if (is_option(args[i], "-m", "--model")) {
            model = option_value(args, i);
        }
    }
    const char * env_alias = std::getenv("LLAMA_ARG_ALIAS");
    if (!is_zip_path(model.c_str()) || (env_alias && *env_alias)) {
        return;
    }
    std::string name = model.substr(model.find_last_of('/') + 1);
    const size_t dot = name.rfind('.');
    if (dot != std::string::npos && dot > 0) {
        name.resize(dot);
    }
    set_env_default("LLAMA_ARG_ALIAS", name);
}

}  // namespace

}  // namespace lsone

void lsone_package_args(int argc, char ** argv) {
    using namespace lsone;
    const std::vector<std::string> args(argv + 1, argv + argc);
    for (const auto & a : args) {
        if (a == "--manifest") {
            std::string text, err;
            if (!read_entry(self_zip(), "manifest.json", text, err)) {
                std::fprintf(stderr, "llama-server-one: --manifest: %s\n", err.c_str());
                std::exit(2);
            }
            std::fwrite(text.data(), 1, text.size(), stdout);
            std::exit(0);
        }
        if (a == "--version") {
            std::atexit(print_summary);
        }
    }
    default_alias(args);
}
