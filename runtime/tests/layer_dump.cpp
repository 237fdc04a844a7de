// Test driver: apply the args layers (its own /zip/.args, the args file beside it, the
// command line) exactly as the server's main() does, and print the resulting arguments
// one per line as JSON strings; or exit with lsone_layer_args' code.
// layer_dump --argc0 runs the layers as if started with an empty argv (argc == 0).
#include "lsone_args.h"
#include "print_json.h"

#include <cstdio>
#include <cstring>

int main(int argc, char ** argv) {
    char * empty[] = {nullptr};
    if (argc == 2 && std::strcmp(argv[1], "--argc0") == 0) {
        argc = 0;
        argv = empty;
    }
    if (int rc = lsone_layer_args(&argc, &argv)) {
        return rc;
    }
    for (int i = 1; i < argc; i++) {
        print_json_string(argv[i]);
        std::putchar('\n');
    }
    return 0;
}
