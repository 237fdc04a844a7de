// libFuzzer target: the args-file parser and the layering of its results.
//
// The input is split into an embedded file, an adjacent file and command-line arguments.
// Beyond "no crash, no sanitizer report", it checks:
// - a failed parse names its origin and a line;
// - tokens written back in the file syntax parse to the same tokens (quoting round-trips);
// - splicing keeps every file token and the inner layer exactly once, in order;
// - lsone_layer_args, reading the adjacent file beside this program, gives that same splice.
#include "lsone_args.h"
#include "lsone_platform.h"
#include "lsone_zip.h"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

static void require(bool ok, const char * what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_args: broken promise: %s\n", what);
        std::abort();
    }
}

// One token in the file syntax: a bare `...` stays a placeholder, anything else is single-quoted
// (a quote inside is closed, escaped with a backslash and reopened).
static std::string quoted(const lsone::arg_token & t) {
    if (t.placeholder) {
        return "...";
    }
    std::string out = "'";
    for (char c : t.text) {
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return out + "'";
}

static bool parse(const std::string & text, const char * origin, std::vector<lsone::arg_token> & tokens) {
    std::string err;
    if (lsone::parse_args(text, origin, tokens, err)) {
        return true;
    }
    require(err.rfind(std::string(origin) + ":", 0) == 0, "a parse error starts with the file's name");
    return false;
}

static void check_round_trip(const std::vector<lsone::arg_token> & tokens) {
    std::string text;
    for (const auto & t : tokens) {
        text += quoted(t) + (text.size() % 3 ? "\n" : " ");
    }
    std::vector<lsone::arg_token> again;
    require(parse(text, "round-trip", again), "quoted tokens parse");
    require(again.size() == tokens.size(), "quoted tokens parse to as many tokens");
    for (size_t i = 0; i < tokens.size(); i++) {
        require(again[i].text == tokens[i].text && again[i].placeholder == tokens[i].placeholder,
                "quoted tokens parse to the same tokens");
    }
}

static std::vector<std::string> check_splice(const std::vector<lsone::arg_token> & file,
                                             const std::vector<std::string> & inner) {
    const std::vector<std::string> out = lsone::splice_args(file, inner);
    std::vector<std::string> expected;
    bool placed = false;
    for (const auto & t : file) {
        if (!t.placeholder) {
            expected.push_back(t.text);
        } else if (!placed) {
            expected.insert(expected.end(), inner.begin(), inner.end());
            placed = true;
        }
    }
    if (!placed) {
        expected.insert(expected.end(), inner.begin(), inner.end());
    }
    require(out == expected, "splice puts the inner layer at the first `...` (or at the end), once");
    return out;
}

// The real entry point, with the adjacent file written where it looks (this program has no zip).
static void check_layer_args(const std::string & adjacent, const std::vector<lsone::arg_token> * tokens,
                             const std::vector<std::string> & command_line) {
    static const std::string path = lsone::adjacent_args_path(lsone::self_exe_path());
    std::remove(path.c_str());  // a fresh file: truncating one makes ext4 flush it to disk on close
    std::ofstream(path, std::ios::binary) << adjacent;
    std::vector<std::string> storage = {"fuzz_args"};
    storage.insert(storage.end(), command_line.begin(), command_line.end());
    std::vector<char *> argv;
    for (auto & a : storage) { argv.push_back(&a[0]); }
    argv.push_back(nullptr);
    int argc = (int) storage.size();
    char ** argvp = argv.data();
    const int rc = lsone_layer_args(&argc, &argvp);
    require((rc == 0) == (tokens != nullptr), "lsone_layer_args fails exactly when the adjacent file is bad");
    if (rc == 0) {
        const std::vector<std::string> got(argvp + 1, argvp + argc);
        require(got == lsone::splice_args(*tokens, command_line), "lsone_layer_args splices the adjacent file");
        require(argvp[argc] == nullptr, "the new argv ends with a null pointer");
    }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    FuzzedDataProvider in(data, size);
    std::vector<std::string> command_line;
    const size_t n_args = in.ConsumeIntegralInRange<size_t>(0, 4);
    for (size_t i = 0; i < n_args; i++) {
        command_line.push_back(in.ConsumeRandomLengthString(64).c_str());  // a real argv string ends at a NUL
    }
    const std::string adjacent = in.ConsumeRandomLengthString(4096);
    const std::string embedded = in.ConsumeRemainingBytesAsString();

    std::vector<lsone::arg_token> adjacent_tokens, embedded_tokens;
    const bool adjacent_ok = parse(adjacent, "adjacent.args", adjacent_tokens);
    const bool embedded_ok = parse(embedded, "/zip/.args", embedded_tokens);
    if (adjacent_ok) {
        check_round_trip(adjacent_tokens);
    }
    if (embedded_ok) {
        check_round_trip(embedded_tokens);
    }
    check_layer_args(adjacent, adjacent_ok ? &adjacent_tokens : nullptr, command_line);
    // The runtime's layering: the adjacent file wraps the command line, the embedded file wraps both.
    std::vector<std::string> layered = command_line;
    if (adjacent_ok) {
        layered = check_splice(adjacent_tokens, layered);
    }
    if (embedded_ok) {
        check_splice(embedded_tokens, layered);
    }
    return 0;
}
