// csv: one CSV cell or record for `tackd log export` (RFC 4180), safe to
// open in a spreadsheet. Pure.
//
// A cell with a comma, a double quote, CR or LF is quoted and its quotes
// doubled. A cell that a spreadsheet would take for a formula (it starts
// with =, +, -, @, a tab or CR: OWASP's "CSV injection") gets a leading
// single quote, so "+46701234567" reads '+46701234567 and "=HYPERLINK(...)"
// stays text. Records end in CRLF as RFC 4180 says.
//
// The delimiter is a comma unless the reader's spreadsheet wants another:
// Excel in a Swedish or Polish locale splits on ';' (the decimal separator
// there is the comma). A cell holding the delimiter is quoted like one
// holding a comma. kUtf8Bom is what Excel needs before the first record to
// read the file as UTF-8 (å, ł) rather than the locale's code page.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tack {

inline constexpr std::string_view kUtf8Bom = "\xef\xbb\xbf";

std::string csv_cell(std::string_view value, char delimiter = ',');
std::string csv_record(const std::vector<std::string>& cells,
                       char delimiter = ',');  // with the CRLF

// A --delimiter as typed: ",", ";", "|", or a tab ("tab", "\t" or the
// character itself). nullopt for anything else: a quote, CR or LF would
// break the quoting, a letter, digit or formula sign would be read as data.
std::optional<char> parse_csv_delimiter(std::string_view text);

}  // namespace tack
