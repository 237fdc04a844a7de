// llama-server-one: layered argument files in cosmo_args syntax.
//
// Layers, first to last (for a repeated flag the last one wins): the embedded
// /zip/.args, then an args file beside the executable (<exe>.args), then the
// command line. In a file, a standalone `...` marks where the next layer's
// arguments go; without one they follow the file's own.
#pragma once

#include <string>
#include <vector>

namespace lsone {

struct arg_token {
    std::string text;
    bool        placeholder = false;  // an unquoted standalone `...`
};

// Parses text; on failure returns false with err = "<origin>:<line>: <problem>".
bool parse_args(const std::string & text, const std::string & origin, std::vector<arg_token> & out, std::string & err);

// The file's tokens with inner spliced in at `...` (or appended).
std::vector<std::string> splice_args(const std::vector<arg_token> & file, const std::vector<std::string> & inner);

// The adjacent file's name for an executable path: its name without .exe, plus .args.
std::string adjacent_args_path(const std::string & exe_path);

}  // namespace lsone

// main()'s hook: replaces argc/argv with the layered arguments. Returns 0 to go on,
// or an exit code after printing what is wrong with which file.
int lsone_layer_args(int * argc, char *** argv);
