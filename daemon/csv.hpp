// csv: one CSV cell or record for `tackd log export` (RFC 4180), safe to
// open in a spreadsheet. Pure.
//
// A cell with a comma, a double quote, CR or LF is quoted and its quotes
// doubled. A cell that a spreadsheet would take for a formula (it starts
// with =, +, -, @, a tab or CR: OWASP's "CSV injection") gets a leading
// single quote, so "+46701234567" reads '+46701234567 and "=HYPERLINK(...)"
// stays text. Records end in CRLF as RFC 4180 says.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tack {

std::string csv_cell(std::string_view value);
std::string csv_record(const std::vector<std::string>& cells);  // with the CRLF

}  // namespace tack
