// Test driver: parse an args file with the runtime's parser and print one token per line
// as JSON strings ("..." placeholders print as null), or the error and exit 2.
#include "lsone_args.h"

#include <cstdio>
#include <fstream>
#include <sstream>

static void print_json_string(const std::string & s) {
    std::putchar('"');
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') { std::printf("\\%c", c); }
        else if (c < 0x20) { std::printf("\\u%04x", c); }
        else { std::putchar(c); }
    }
    std::putchar('"');
}

int main(int argc, char ** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: args_dump FILE\n");
        return 64;
    }
    std::ifstream in(argv[1], std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    std::vector<lsone::arg_token> tokens;
    std::string err;
    if (!lsone::parse_args(ss.str(), argv[1], tokens, err)) {
        std::fprintf(stderr, "%s\n", err.c_str());
        return 2;
    }
    for (const auto & t : tokens) {
        if (t.placeholder) { std::printf("null"); } else { print_json_string(t.text); }
        std::putchar('\n');
    }
    return 0;
}
