// llama-server-one: cosmo_args-syntax argument files and their layering.

#include "lsone_args.h"
#include "lsone_platform.h"
#include "lsone_zip.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace lsone {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_name_char(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

int hex_value(char c) {
    if (c >= '0' && c <= '9') { return c - '0'; }
    if (c >= 'a' && c <= 'f') { return c - 'a' + 10; }
    if (c >= 'A' && c <= 'F') { return c - 'A' + 10; }
    return -1;
}

class parser {
  public:
    parser(const std::string & text, const std::string & origin) : s(text), origin(origin) {}

    bool run(std::vector<arg_token> & out, std::string & err) {
        const size_t nul = s.find('\0');
        if (nul != std::string::npos) {  // argv strings end at a NUL: it would silently cut the argument
            return fail(err, 1 + (int) std::count(s.begin(), s.begin() + (std::ptrdiff_t) nul, '\n'),
                        "a NUL byte cannot be passed in an argument");
        }
        while (true) {
            while (i < s.size() && is_space(s[i])) { advance(); }
            if (i >= s.size()) { return true; }
            if (s[i] == '#') {
                while (i < s.size() && s[i] != '\n') { advance(); }
                continue;
            }
            arg_token tok;
            bool literal_only = true;
            while (i < s.size() && !is_space(s[i])) {
                const char c = s[i];
                if (c == '\'') {
                    literal_only = false;
                    if (!single_quoted(tok.text, err)) { return false; }
                } else if (c == '"') {
                    literal_only = false;
                    if (!double_quoted(tok.text, err)) { return false; }
                } else if (c == '\\') {
                    literal_only = false;
                    const int at = line;
                    advance();
                    if (i >= s.size()) { return fail(err, at, "backslash at the end of the file escapes nothing"); }
                    if (s[i] != '\n') { tok.text += s[i]; }  // backslash-newline continues the token
                    advance();
                } else {
                    tok.text += c;
                    advance();
                }
            }
            tok.placeholder = literal_only && tok.text == "...";
            out.push_back(tok);
        }
    }

  private:
    const std::string & s;
    const std::string & origin;
    size_t i = 0;
    int line = 1;

    void advance() {
        if (s[i] == '\n') { line++; }
        i++;
    }

    bool fail(std::string & err, int at, const std::string & problem) const {
        err = origin + ":" + std::to_string(at) + ": " + problem;
        return false;
    }

    bool single_quoted(std::string & out, std::string & err) {
        const int at = line;
        advance();
        while (i < s.size() && s[i] != '\'') { out += s[i]; advance(); }
        if (i >= s.size()) { return fail(err, at, "unterminated single quote (')"); }
        advance();
        return true;
    }

    bool variable(std::string & out, std::string & err) {
        const int at = line;
        advance();  // '$'
        std::string name;
        if (i < s.size() && s[i] == '{') {
            advance();
            while (i < s.size() && is_name_char(s[i])) { name += s[i]; advance(); }
            if (name.empty() || i >= s.size() || s[i] != '}') {
                return fail(err, at, "unterminated ${ in a double-quoted string: expected a name of letters, digits "
                                     "and _, then }");
            }
            advance();
        } else {
            while (i < s.size() && is_name_char(s[i])) { name += s[i]; advance(); }
        }
        if (name.empty()) {
            out += '$';
            return true;
        }
        const char * value = std::getenv(name.c_str());
        out += value ? value : "";
        return true;
    }

    bool double_quoted(std::string & out, std::string & err) {
        const int at = line;
        advance();
        while (i < s.size() && s[i] != '"') {
            if (s[i] == '$') {
                if (!variable(out, err)) { return false; }
                continue;
            }
            if (s[i] != '\\') { out += s[i]; advance(); continue; }
            const int esc_line = line;
            advance();
            if (i >= s.size()) { break; }
            const char e = s[i];
            advance();
            switch (e) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case 'a': out += '\a'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'v': out += '\v'; break;
                case 'e': out += '\x1b'; break;
                case '0': return fail(err, esc_line, "a NUL byte (\\0) cannot be passed in an argument");
                case '\\': case '"': case '\'': case '$': case '?': out += e; break;
                case '\n': break;  // line continuation
                case 'x': {
                    int hi = i < s.size() ? hex_value(s[i]) : -1;
                    int lo = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
                    if (hi < 0 || lo < 0) { return fail(err, esc_line, "bad escape \\x: expected two hex digits"); }
                    if (hi == 0 && lo == 0) { return fail(err, esc_line, "a NUL byte (\\x00) cannot be passed in an argument"); }
                    out += (char) (hi * 16 + lo);
                    advance();
                    advance();
                    break;
                }
                default:
                    return fail(err, esc_line, std::string("bad escape \\") + e + " in a double-quoted string");
            }
        }
        if (i >= s.size()) { return fail(err, at, "unterminated double quote (\")"); }
        advance();
        return true;
    }
};

// exists = false for a missing file (not an error). Anything but a regular file is refused:
// opening a FIFO would block startup until someone writes to it.
bool read_file(const std::string & path, std::string & out, bool & exists, std::string & err) {
    exists = false;
    const int fd = open_for_reading(path);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            return true;
        }
        err = "cannot read " + path + ": " + std::strerror(errno);
        return false;
    }
    exists = true;
    uint64_t size = 0;
    bool regular = false;
    if (!file_status(fd, size, regular) || !regular) {
        close_file(fd);
        err = path + ": not a regular file (an args file beside the executable must be a plain file)";
        return false;
    }
    out.clear();
    const bool read = read_to_end(fd, out);
    const int read_errno = errno;
    close_file(fd);
    if (!read) {
        err = "cannot read " + path + ": " + std::strerror(read_errno);
        return false;
    }
    return true;
}

bool read_embedded_args(std::string & out, bool & exists, std::string & err) {
    const zip_archive & zip = self_zip();
    exists = zip.find(".args") != nullptr;
    return !exists || read_entry(zip, ".args", out, err);
}

}  // namespace

bool parse_args(const std::string & text, const std::string & origin, std::vector<arg_token> & out, std::string & err) {
    out.clear();
    return parser(text, origin).run(out, err);
}

std::vector<std::string> splice_args(const std::vector<arg_token> & file, const std::vector<std::string> & inner) {
    std::vector<std::string> out;
    bool placed = false;
    for (const auto & t : file) {
        if (t.placeholder && !placed) {
            out.insert(out.end(), inner.begin(), inner.end());
            placed = true;
        } else if (!t.placeholder) {
            out.push_back(t.text);
        }
    }
    if (!placed) {
        out.insert(out.end(), inner.begin(), inner.end());
    }
    return out;
}

std::string adjacent_args_path(const std::string & exe_path) {
    std::string base = exe_path;
    const size_t slash = base.find_last_of("/\\");
    const size_t dot = base.rfind('.');
    if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) {
        std::string ext = base.substr(dot);
        for (auto & c : ext) { c = (char) std::tolower((unsigned char) c); }
        if (ext == ".exe" || ext == ".com") { base.resize(dot); }
    }
    return base + ".args";
}

}  // namespace lsone

int lsone_layer_args(int * argc, char *** argv) {
    using namespace lsone;
    // argc may be 0 (a program can exec us with an empty argv): then there is no argv[0] either.
    const std::string program = *argc > 0 && (*argv)[0] ? (*argv)[0] : "llama-server-one";
    std::vector<std::string> args;
    for (int i = 1; i < *argc; i++) {
        args.emplace_back((*argv)[i]);
    }
    std::string err;

    const std::string adjacent = adjacent_args_path(self_exe_path());
    std::string text;
    bool exists = false;
    if (!read_file(adjacent, text, exists, err)) {
        std::fprintf(stderr, "llama-server-one: %s\n", err.c_str());
        return 2;
    }
    std::vector<arg_token> tokens;
    if (exists) {
        if (!parse_args(text, adjacent, tokens, err)) {
            std::fprintf(stderr, "llama-server-one: %s\n", err.c_str());
            return 2;
        }
        args = splice_args(tokens, args);
    }
    if (!read_embedded_args(text, exists, err)) {
        std::fprintf(stderr, "llama-server-one: %s\n", err.c_str());
        return 2;
    }
    if (exists) {
        if (!parse_args(text, "/zip/.args", tokens, err)) {
            std::fprintf(stderr, "llama-server-one: %s\n", err.c_str());
            return 2;
        }
        args = splice_args(tokens, args);
    }
    // The new argv lives for the whole process, like the original.
    static std::vector<std::string> storage;
    static std::vector<char *> pointers;
    storage.assign(1, program);
    storage.insert(storage.end(), args.begin(), args.end());
    pointers.clear();
    for (auto & a : storage) { pointers.push_back(&a[0]); }
    pointers.push_back(nullptr);
    *argc = (int) storage.size();
    *argv = pointers.data();
    return 0;
}
