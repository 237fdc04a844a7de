// Test driver: parse an args file with the runtime's parser and print one token per line
// as JSON strings ("..." placeholders print as null), or the error and exit 2.
//
// args_dump --each FILE...: one JSON line per file, for differential tests over a corpus:
// an array of tokens as hex strings (null for a placeholder), or {"error_line": N}.
#include "lsone_args.h"
#include "print_json.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

static std::string read_all(const char * path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

static void print_each(const char * path) {
    std::vector<lsone::arg_token> tokens;
    std::string err;
    if (!lsone::parse_args(read_all(path), path, tokens, err)) {
        // err = "<path>:<line>: <problem>"
        std::printf("{\"error_line\": %ld}\n", std::strtol(err.c_str() + std::strlen(path) + 1, nullptr, 10));
        return;
    }
    std::putchar('[');
    for (size_t i = 0; i < tokens.size(); i++) {
        std::printf(i ? ", " : "");
        if (tokens[i].placeholder) {
            std::printf("null");
            continue;
        }
        std::putchar('"');
        for (unsigned char c : tokens[i].text) { std::printf("%02x", c); }
        std::putchar('"');
    }
    std::printf("]\n");
}

int main(int argc, char ** argv) {
    if (argc >= 2 && std::strcmp(argv[1], "--each") == 0) {
        for (int i = 2; i < argc; i++) { print_each(argv[i]); }
        return 0;
    }
    if (argc != 2) {
        std::fprintf(stderr, "usage: args_dump FILE | args_dump --each FILE...\n");
        return 64;
    }
    std::vector<lsone::arg_token> tokens;
    std::string err;
    if (!lsone::parse_args(read_all(argv[1]), argv[1], tokens, err)) {
        std::fprintf(stderr, "%s\n", err.c_str());
        return 2;
    }
    for (const auto & t : tokens) {
        if (t.placeholder) { std::printf("null"); } else { print_json_string(t.text); }
        std::putchar('\n');
    }
    return 0;
}
