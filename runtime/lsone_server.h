// llama-server-one: what the server shows and serves from the executable's zip.
#pragma once

#include "json.h"  // common/json.h: JSON is built with the library, never by concatenating text

#include <string>

namespace httplib {
class Server;
struct Request;
struct Response;
}

// server-http.cpp: index the files of a /zip/DIR (e.g. --path /zip/ui) for api_prefix/,
// with index.html also at "/". Returns false (after printing why) if DIR has no entries.
bool lsone_serve_zip_dir(httplib::Server & srv, const std::string & api_prefix, const std::string & zip_dir);

// server-http.cpp, before any other routing: answers a GET/HEAD whose path is exactly one of
// those files and returns true. Paths are looked up literally (no patterns), and the embedded
// UI's files are public, like upstream's compiled-in UI: no API key, served while loading.
bool lsone_serve_zip_file(const httplib::Request & req, httplib::Response & res);

// server-context.cpp: the embedded manifest.json (null when there is none or it is not JSON;
// read and parsed once).
common_json lsone_manifest();

// server-context.cpp: the model's general.* metadata as a JSON object, read once per path.
common_json lsone_model_general(const std::string & model_path);
