#include "csv.hpp"

namespace tack {

std::string csv_cell(std::string_view value, char delimiter) {
  std::string text;
  if (!value.empty()) {
    const char first = value.front();
    if (first == '=' || first == '+' || first == '-' || first == '@' || first == '\t' ||
        first == '\r') {
      text.push_back('\'');
    }
  }
  text.append(value);
  if (text.find_first_of(",\"\r\n") == std::string::npos &&
      text.find(delimiter) == std::string::npos) {
    return text;
  }
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted.push_back('"');
    quoted.push_back(c);
  }
  quoted.push_back('"');
  return quoted;
}

std::string csv_record(const std::vector<std::string>& cells, char delimiter) {
  std::string line;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i) line.push_back(delimiter);
    line += csv_cell(cells[i], delimiter);
  }
  line += "\r\n";
  return line;
}

std::optional<char> parse_csv_delimiter(std::string_view text) {
  if (text == "tab" || text == "\\t") return '\t';
  if (text.size() != 1) return std::nullopt;
  switch (text.front()) {
    case ',':
    case ';':
    case '|':
    case '\t':
      return text.front();
    default:
      return std::nullopt;
  }
}

}  // namespace tack
