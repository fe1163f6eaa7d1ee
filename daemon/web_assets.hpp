// web_assets: the support page's files (daemon/web/), built into tackd.
//
// The HTTP listener serves GET / and other GET paths outside the API
// through find_web_asset, behind HTTP Basic auth. `path` is the request
// path without its query, starting with '/': "/" is the page itself
// (index.html), "/app.js" and "/app.css" what it loads. Any other path,
// including "/index.html", gives nullopt. The bodies live as long as the
// program; the content types carry their charset.
//
// The build embeds the files: cmake/embed_web_assets.cmake turns each one
// into a byte array in a generated source in the build dir, listed in
// detail::kEmbeddedWebFiles. tackd needs no files at run time, and the
// page it serves is always the one it was built with.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace tack {

struct WebAsset {
  std::string_view body;
  std::string_view content_type;
};

std::optional<WebAsset> find_web_asset(std::string_view path);

namespace detail {

// One file of daemon/web/ by its file name ("app.js").
struct EmbeddedWebFile {
  std::string_view name;
  const unsigned char* data;
  std::size_t size;
};

// Defined in the generated source.
extern const EmbeddedWebFile kEmbeddedWebFiles[];
extern const std::size_t kEmbeddedWebFileCount;

}  // namespace detail
}  // namespace tack
