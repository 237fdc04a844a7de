// llama-server-one: what the server shows and serves from the executable's zip.
#pragma once

#include <string>

namespace httplib {
class Server;
}

// server-http.cpp: serve the files of a /zip/DIR (e.g. --path /zip/ui) at api_prefix/,
// with index.html at "/". Returns false (after printing why) if DIR has no entries.
bool lsone_serve_zip_dir(httplib::Server & srv, const std::string & api_prefix, const std::string & zip_dir);

// server-context.cpp: the embedded manifest.json as JSON text ("null" when there is none).
std::string lsone_manifest_json();

// server-context.cpp: the model's general.* metadata as a JSON object text, read once per path.
std::string lsone_model_general_json(const std::string & model_path);
