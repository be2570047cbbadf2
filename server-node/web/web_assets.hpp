// The web page's static files (server-node/web/assets/), compiled into the binary by
// embed_assets.cmake: nothing is read from disk or fetched at run time.
#pragma once

#include <string_view>

namespace pdsync::server::web {

struct Asset {
    std::string_view path;  // "/assets/app.js"
    std::string_view content_type;
    std::string_view body;
};

// The asset served at `path`, or nullptr.
const Asset* find_asset(std::string_view path);

}  // namespace pdsync::server::web
