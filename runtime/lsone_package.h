// llama-server-one: what the package says about itself on the command line.
#pragma once

// main()'s hook, after the args layers, on the final arguments:
// - --manifest prints /zip/manifest.json to stdout and exits 0;
// - --version: the manifest's one-line summary follows upstream's version lines (at exit);
// - the model's name for OpenAI-style clients: when the last -m/--model is a /zip/ entry and no
//   alias is given, LLAMA_ARG_ALIAS defaults to its file name without the extension
//   (/zip/gemma-3-270m-q4_k_m.gguf -> gemma-3-270m-q4_k_m), so /v1/models lists that name.
//   Upstream reads the variable only when --alias is not on the command line.
void lsone_package_args(int argc, char ** argv);
