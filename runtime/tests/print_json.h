// Test drivers' output: a string as a JSON string (bytes >= 0x80 passed through).
#pragma once

#include <cstdio>
#include <string>

inline void print_json_string(const std::string & s) {
    std::putchar('"');
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') { std::printf("\\%c", c); }
        else if (c < 0x20) { std::printf("\\u%04x", c); }
        else { std::putchar(c); }
    }
    std::putchar('"');
}
