#include "web_assets.hpp"

#include <span>

namespace tack {
namespace {

std::string_view content_type_of(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace

std::optional<WebAsset> find_web_asset(std::string_view path) {
  // The page has one address, "/"; its parts sit directly below it.
  std::string_view name;
  if (path == "/") {
    name = "index.html";
  } else if (path.size() > 1 && path.front() == '/' &&
             path.find('/', 1) == std::string_view::npos && path != "/index.html") {
    name = path.substr(1);
  } else {
    return std::nullopt;
  }
  const std::span files(detail::kEmbeddedWebFiles, detail::kEmbeddedWebFileCount);
  for (const auto& file : files) {
    if (file.name != name) continue;
    return WebAsset{std::string_view(reinterpret_cast<const char*>(file.data), file.size),
                    content_type_of(file.name)};
  }
  return std::nullopt;
}

}  // namespace tack
