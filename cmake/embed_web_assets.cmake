# Turns the support page's files into one C++ source, so tackd carries them
# in its binary and needs no files at run time. Run at build time by the
# custom command next to tackcore in CMakeLists.txt:
#
#   cmake -DOUTPUT=<file.cpp> -DFILES=<a.html,b.css,...> -P embed_web_assets.cmake
#
# Each file becomes a byte array (any content is safe: no raw-string
# delimiter or escape to get wrong) listed in tack::detail::kEmbeddedWebFiles
# under its file name; daemon/web_assets.cpp maps URL paths onto it.
cmake_minimum_required(VERSION 3.25)

if(NOT OUTPUT OR NOT FILES)
  message(FATAL_ERROR "embed_web_assets.cmake: OUTPUT and FILES are required")
endif()
string(REPLACE "," ";" files "${FILES}")

set(arrays "")
set(entries "")
set(index 0)
foreach(path IN LISTS files)
  get_filename_component(name "${path}" NAME)
  if(NOT name MATCHES "^[A-Za-z0-9._-]+$")
    message(FATAL_ERROR "embed_web_assets.cmake: ${path}: a web file's name may hold only A-Z a-z 0-9 . _ -")
  endif()
  file(READ "${path}" hex HEX)
  string(LENGTH "${hex}" hex_length)
  math(EXPR size "${hex_length} / 2")
  # 12 bytes a line; a trailing 0 keeps an empty file's array legal.
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REPEAT "0x[0-9a-f][0-9a-f]," 12 line)
  string(REGEX REPLACE "(${line})" "\\1\n" bytes "${bytes}")
  string(APPEND arrays "// ${name}: ${size} bytes\nconst unsigned char file_${index}[] = {\n${bytes}0x00};\n\n")
  string(APPEND entries "    {\"${name}\", file_${index}, ${size}},\n")
  math(EXPR index "${index} + 1")
endforeach()

file(WRITE "${OUTPUT}"
"// Generated at build time by cmake/embed_web_assets.cmake from daemon/web/.
// Do not edit: change the files in daemon/web/ and rebuild.
#include \"web_assets.hpp\"

namespace tack::detail {
namespace {

${arrays}}  // namespace

const EmbeddedWebFile kEmbeddedWebFiles[] = {
${entries}};
const std::size_t kEmbeddedWebFileCount = ${index};

}  // namespace tack::detail
")
