// executor/disclosure/identifiers.cc. Direct identifiers in values ("direct_identifiers"),
// identifying column headers ("identifier_columns") and MaskIdentifier. Hand-written scanners
// rather than regular expressions: each is bounded, linear and cannot blow up on hostile input.
#include "executor/disclosure/identifiers.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

#include "executor/disclosure/filter.h"

namespace safeflow::executor::disclosure {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsAlpha(char c) { return IsUpper(c) || IsLower(c); }
bool IsAlnum(char c) { return IsDigit(c) || IsAlpha(c); }
// Bytes that continue a word: ASCII letters, digits, '_' and any non-ASCII byte (UTF-8
// letters), so that nothing is found inside "Müller4012345678".
bool IsWordByte(char c) { return IsAlnum(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80; }
char ToUpper(char c) { return IsLower(c) ? static_cast<char>(c - 'a' + 'A') : c; }
char ToLower(char c) { return IsUpper(c) ? static_cast<char>(c - 'A' + 'a') : c; }
int DigitValue(char c) { return c - '0'; }

std::string LowerAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ToLower(c);
  return out;
}

bool ContainsNoCase(std::string_view haystack, std::string_view lower_needle) {
  return LowerAscii(haystack).find(lower_needle) != std::string::npos;
}

// The text being scanned, with bounds-checked access ('\0' past either end).
class Text {
 public:
  explicit Text(std::string_view s) : s_(s) {}
  char At(std::size_t i) const { return i < s_.size() ? s_[i] : '\0'; }
  char Before(std::size_t i) const { return i > 0 && i <= s_.size() ? s_[i - 1] : '\0'; }
  std::size_t size() const { return s_.size(); }
  std::string_view view() const { return s_; }

  // Digits starting at i.
  std::size_t DigitRun(std::size_t i) const {
    std::size_t j = i;
    while (IsDigit(At(j))) ++j;
    return j - i;
  }
  // Whether a word starts at i (nothing word-like right before it).
  bool WordStart(std::size_t i) const { return i == 0 || !IsWordByte(s_[i - 1]); }
  // Whether a number may start at i: a word start that does not continue a decimal or a
  // thousands-separated number ("3.943...", "1,234").
  bool NumberStart(std::size_t i) const {
    if (!WordStart(i)) return false;
    const char before = Before(i);
    return !((before == '.' || before == ',') && i >= 2 && IsDigit(s_[i - 2]));
  }
  // Whether a token may end at j: nothing word-like follows, and no decimal or thousands
  // part ("...19.5", "...19,000").
  bool TokenEnd(std::size_t j) const {
    const char c = At(j);
    if (IsWordByte(c)) return false;
    return !((c == '.' || c == ',') && IsDigit(At(j + 1)));
  }

 private:
  const std::string_view s_;
};

// ---- context ----------------------------------------------------------------------------------

// Header tokens that name a quantity: a bare 10-digit number there is a statistic.
bool IsQuantityToken(std::string_view token) {
  static constexpr std::array<std::string_view, 22> kQuantities = {
      "value", "values", "count", "counts", "n",        "freq",      "frequency", "total",
      "sum",   "amount", "cost",  "costs",  "mean",     "median",    "sd",        "se",
      "std",   "min",    "max",   "size",   "estimate", "population"};
  return std::find(kQuantities.begin(), kQuantities.end(), token) != kQuantities.end();
}

std::vector<std::string> Tokens(const std::string& normalised) {
  std::vector<std::string> tokens;
  std::size_t start = 0;
  while (start <= normalised.size()) {
    std::size_t end = normalised.find('_', start);
    if (end == std::string::npos) end = normalised.size();
    if (end > start) tokens.push_back(normalised.substr(start, end - start));
    start = end + 1;
  }
  return tokens;
}

struct ColumnContext {
  bool nhs = false;       // the header mentions NHS
  bool birth = false;     // the header names a date of birth
  bool quantity = false;  // the header names a quantity
};

ColumnContext ContextOfColumn(std::string_view column) {
  ColumnContext context;
  if (column.empty()) return context;
  const std::string normalised = NormaliseColumnName(column);
  context.nhs = normalised.find("nhs") != std::string::npos;
  context.birth = normalised.find("birth") != std::string::npos ||
                  normalised.find("born") != std::string::npos ||
                  normalised.find("geburt") != std::string::npos;
  for (const std::string& token : Tokens(normalised)) {
    if (token == "dob" || token == "geb") context.birth = true;
    if (IsQuantityToken(token)) context.quantity = true;
  }
  // "D.O.B." normalises to d_o_b: the tokens are single letters.
  if (normalised == "d_o_b") context.birth = true;
  return context;
}

// Where the text mentions a birth: spans of "birth", "born", "geburt" (anywhere in a word)
// and the words "dob", "d.o.b", "geb".
std::vector<std::pair<std::size_t, std::size_t>> BirthWords(std::string_view text) {
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  const std::string lower = LowerAscii(text);
  for (std::string_view word : {"birth", "born", "geburt"}) {
    for (std::size_t at = lower.find(word); at != std::string::npos;
         at = lower.find(word, at + 1)) {
      spans.emplace_back(at, at + word.size());
    }
  }
  for (std::string_view word : {"dob", "d.o.b", "geb"}) {
    for (std::size_t at = lower.find(word); at != std::string::npos;
         at = lower.find(word, at + 1)) {
      const std::size_t end = at + word.size();
      const bool starts = at == 0 || !IsAlpha(lower[at - 1]);
      const bool ends = end >= lower.size() || !IsAlpha(lower[end]);
      if (starts && ends) spans.emplace_back(at, end);
    }
  }
  return spans;
}

// ---- dates ------------------------------------------------------------------------------------

bool IsLeapYear(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

bool IsPlausibleDate(int year, int month, int day) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (year < 1850 || year > 2150 || month < 1 || month > 12 || day < 1) return false;
  const int days =
      kDays[static_cast<std::size_t>(month - 1)] + (month == 2 && IsLeapYear(year) ? 1 : 0);
  return day <= days;
}

int ParseDigits(std::string_view digits) {
  int value = 0;
  for (char c : digits) value = value * 10 + DigitValue(c);
  return value;
}

// A month name (English, full or abbreviated; German full or abbreviated) starting at i:
// its number and length, or {0, 0}.
std::pair<int, std::size_t> MonthNameAt(const Text& text, std::size_t i) {
  std::size_t j = i;
  while (j < text.size() && j - i <= 12 &&
         (IsAlpha(text.At(j)) || static_cast<unsigned char>(text.At(j)) >= 0x80)) {
    ++j;
  }
  if (j == i || j - i > 12) return {0, 0};
  const std::string word = LowerAscii(text.view().substr(i, j - i));
  struct Month {
    std::string_view name;
    int number;
  };
  static const std::array<Month, 36> kMonths = {{
      {"january", 1},   {"jan", 1},      {"januar", 1},    {"j\xc3\xa4nner", 1}, {"february", 2},
      {"feb", 2},       {"februar", 2},  {"march", 3},     {"mar", 3},           {"m\xc3\xa4rz", 3},
      {"maerz", 3},     {"april", 4},    {"apr", 4},       {"may", 5},           {"mai", 5},
      {"june", 6},      {"jun", 6},      {"juni", 6},      {"july", 7},          {"jul", 7},
      {"juli", 7},      {"august", 8},   {"aug", 8},       {"september", 9},     {"sep", 9},
      {"sept", 9},      {"october", 10}, {"oct", 10},      {"oktober", 10},      {"okt", 10},
      {"november", 11}, {"nov", 11},     {"december", 12}, {"dec", 12},          {"dezember", 12},
      {"dez", 12},
  }};
  for (const Month& month : kMonths) {
    if (word == month.name) return {month.number, j - i};
  }
  return {0, 0};
}

struct DateMatch {
  std::size_t length = 0;  // 0: no date here
  bool has_time = false;   // followed by a time of day (a timestamp)
};

// A time of day after a date at j ("T10:00:00Z", " 10:00", "T10:00:00.123+01:00"): its end.
std::size_t TimeAfter(const Text& text, std::size_t j) {
  const char sep = text.At(j);
  if (sep != 'T' && sep != ' ') return j;
  if (!IsDigit(text.At(j + 1)) || !IsDigit(text.At(j + 2)) || text.At(j + 3) != ':') return j;
  std::size_t k = j + 1;
  while (IsDigit(text.At(k)) || text.At(k) == ':' || text.At(k) == '.') ++k;
  if (text.At(k) == 'Z') {
    ++k;
  } else if ((text.At(k) == '+' || text.At(k) == '-') && IsDigit(text.At(k + 1))) {
    ++k;
    while (IsDigit(text.At(k)) || text.At(k) == ':') ++k;
  }
  return k;
}

DateMatch NumericDateAt(const Text& text, std::size_t i) {
  const std::size_t a = text.DigitRun(i);
  if (a == 0 || a > 4) return {};
  const char sep = text.At(i + a);
  if (sep != '-' && sep != '/' && sep != '.') return {};
  const std::size_t b_start = i + a + 1;
  const std::size_t b = text.DigitRun(b_start);
  if (b == 0 || b > 2 || text.At(b_start + b) != sep) return {};
  const std::size_t c_start = b_start + b + 1;
  const std::size_t c = text.DigitRun(c_start);
  if (c == 0 || c > 4) return {};
  const int first = ParseDigits(text.view().substr(i, a));
  const int second = ParseDigits(text.view().substr(b_start, b));
  const int third = ParseDigits(text.view().substr(c_start, c));
  bool valid = false;
  if (a == 4 && c <= 2) {
    valid = IsPlausibleDate(first, second, third);  // yyyy-mm-dd
  } else if (a <= 2 && c == 4) {
    valid = IsPlausibleDate(third, second, first) ||  // dd/mm/yyyy
            IsPlausibleDate(third, first, second);    // mm/dd/yyyy
  }
  if (!valid) return {};
  const std::size_t end = c_start + c;
  const std::size_t time_end = TimeAfter(text, end);
  if (time_end != end) {
    if (!text.TokenEnd(time_end)) return {};
    return {time_end - i, true};
  }
  if (!text.TokenEnd(end)) return {};
  if ((text.At(end) == '-' || text.At(end) == '/') && IsDigit(text.At(end + 1))) return {};
  return {end - i, false};
}

// Separators between the parts of a written date: spaces, a dash, an optional comma.
std::size_t SkipDateSeparator(const Text& text, std::size_t j) {
  std::size_t k = j;
  if (text.At(k) == '.' || text.At(k) == ',') ++k;
  const std::size_t before = k;
  while (text.At(k) == ' ' && k - before < 3) ++k;
  if (k == before && text.At(k) == '-') ++k;
  return k;
}

DateMatch WrittenDateAt(const Text& text, std::size_t i) {
  int day = 0, month = 0, year = 0;
  std::size_t j = i;
  if (IsDigit(text.At(i))) {  // "12 March 1961", "12-Mar-1961", "12. März 1961"
    const std::size_t d = text.DigitRun(i);
    if (d > 2) return {};
    day = ParseDigits(text.view().substr(i, d));
    const std::size_t k = SkipDateSeparator(text, i + d);
    if (k == i + d) return {};
    const auto [number, length] = MonthNameAt(text, k);
    if (number == 0) return {};
    month = number;
    j = SkipDateSeparator(text, k + length);
    if (j == k + length) return {};
  } else {  // "March 12, 1961"
    // Cheap test first: a word, a separator, a digit.
    std::size_t word_end = i;
    while (IsAlpha(text.At(word_end)) || static_cast<unsigned char>(text.At(word_end)) >= 0x80) {
      if (++word_end - i > 12) return {};
    }
    if (!IsDigit(text.At(SkipDateSeparator(text, word_end)))) return {};
    const auto [number, length] = MonthNameAt(text, i);
    if (number == 0) return {};
    month = number;
    std::size_t k = SkipDateSeparator(text, i + length);
    if (k == i + length) return {};
    const std::size_t d = text.DigitRun(k);
    if (d == 0 || d > 2) return {};
    day = ParseDigits(text.view().substr(k, d));
    j = SkipDateSeparator(text, k + d);
    if (j == k + d) return {};
  }
  if (text.DigitRun(j) != 4) return {};
  year = ParseDigits(text.view().substr(j, 4));
  if (!IsPlausibleDate(year, month, day) || !text.TokenEnd(j + 4)) return {};
  return {j + 4 - i, false};
}

DateMatch DateAt(const Text& text, std::size_t i) {
  if (IsDigit(text.At(i))) {
    if (DateMatch numeric = NumericDateAt(text, i); numeric.length > 0) return numeric;
  }
  return WrittenDateAt(text, i);
}

// ---- numbers with check digits ------------------------------------------------------------------

std::size_t NhsFormattedAt(const Text& text, std::size_t i) {
  if (text.DigitRun(i) != 3) return 0;
  const char sep = text.At(i + 3);
  if (sep != ' ' && sep != '-') return 0;
  if (text.DigitRun(i + 4) != 3 || text.At(i + 7) != sep || text.DigitRun(i + 8) != 4) return 0;
  if (!text.TokenEnd(i + 12)) return 0;
  const std::string_view s = text.view();
  std::string digits(s.substr(i, 3));
  digits.append(s.substr(i + 4, 3));
  digits.append(s.substr(i + 8, 4));
  return IsValidNhsNumber(digits) ? 12 : 0;
}

std::size_t NhsUnformattedAt(const Text& text, std::size_t i, const ColumnContext& context,
                             bool nhs_mentioned) {
  if (text.DigitRun(i) != 10) return 0;
  const std::string_view digits = text.view().substr(i, 10);
  if (!IsValidNhsNumber(digits)) return 0;
  std::size_t end = i + 10;
  if (nhs_mentioned) {
    // Spreadsheet and pandas exports write a number column with gaps as floats: "9434765919.0".
    if (text.At(end) == '.' && text.At(end + 1) == '0' && !IsDigit(text.At(end + 2))) end += 2;
    return text.TokenEnd(end) ? end - i : 0;
  }
  if (digits[0] != '4' && digits[0] != '6' && digits[0] != '7') return 0;
  if (!text.TokenEnd(end)) return 0;
  // A signed number, or part of a date, time or range ("2024-4434765919", "10:4434765919").
  const char before = text.Before(i);
  if (before == '-' || before == '+') return 0;
  if ((before == ':' || before == '/') && i >= 2 && IsDigit(text.view()[i - 2])) return 0;
  const char after = text.At(end);
  if ((after == ':' || after == '/' || after == '-') && IsDigit(text.At(end + 1))) return 0;
  // The whole cell of a quantity column is a statistic, not a person.
  if (context.quantity) {
    const std::string_view s = text.view();
    const std::size_t first = s.find_first_not_of(' ');
    const std::size_t last = s.find_last_not_of(' ');
    if (first == i && last + 1 == end) return 0;
  }
  return end - i;
}

std::size_t KvnrAt(const Text& text, std::size_t i) {
  if (!IsUpper(text.At(i)) || text.DigitRun(i + 1) != 9 || !text.TokenEnd(i + 10)) return 0;
  return IsValidKvnr(text.view().substr(i, 10)) ? 10 : 0;
}

std::size_t IbanAt(const Text& text, std::size_t i) {
  if (!IsAlpha(text.At(i)) || !IsAlpha(text.At(i + 1)) || !IsDigit(text.At(i + 2)) ||
      !IsDigit(text.At(i + 3))) {
    return 0;
  }
  const std::string country = {ToUpper(text.At(i)), ToUpper(text.At(i + 1))};
  const std::optional<std::size_t> length = IbanLength(country);
  if (!length) return 0;
  std::string compact(text.view().substr(i, 4));
  std::size_t j = i + 4;
  while (compact.size() < *length) {
    const char c = text.At(j);
    if (c == ' ' && compact.size() % 4 == 0 && IsAlnum(text.At(j + 1))) {
      ++j;
      continue;
    }
    if (!IsAlnum(c)) return 0;
    compact.push_back(c);
    ++j;
  }
  if (!text.TokenEnd(j)) return 0;
  return IsValidIban(compact) ? j - i : 0;
}

// ---- email ------------------------------------------------------------------------------------

bool IsLocalPartByte(char c) {
  return IsAlnum(c) || static_cast<unsigned char>(c) >= 0x80 ||
         std::string_view(".!#$%&'*+/=?^_`{|}~-").find(c) != std::string_view::npos;
}

// An address around the '@' at `at`: [begin, end), or {0, 0}.
std::pair<std::size_t, std::size_t> EmailAround(const Text& text, std::size_t at) {
  constexpr std::size_t kMaxLocal = 64;
  constexpr std::size_t kMaxDomain = 253;
  std::size_t begin = at;
  while (begin > 0 && at - begin < kMaxLocal && IsLocalPartByte(text.At(begin - 1))) --begin;
  while (begin < at && text.At(begin) == '.') ++begin;
  if (begin == at || text.At(at - 1) == '.') return {0, 0};
  // Labels of letters, digits and inner dashes, separated by single dots.
  std::size_t j = at + 1;
  std::size_t labels = 0;
  std::size_t last_label_start = j;
  bool last_label_alpha = false;
  while (j - at <= kMaxDomain) {
    const std::size_t start = j;
    bool alpha = true;
    while (IsAlnum(text.At(j)) || text.At(j) == '-') {
      if (!IsAlpha(text.At(j))) alpha = false;
      ++j;
    }
    if (j == start || text.At(start) == '-' || text.At(j - 1) == '-') {
      j = start;
      break;
    }
    ++labels;
    last_label_start = start;
    last_label_alpha = alpha;
    if (text.At(j) == '.' && IsAlnum(text.At(j + 1))) {
      ++j;
      continue;
    }
    break;
  }
  if (j > 0 && text.At(j - 1) == '.') --j;
  if (labels < 2 || !last_label_alpha || j - last_label_start < 2) return {0, 0};
  if (IsWordByte(text.At(j))) return {0, 0};
  return {begin, j};
}

// ---- phone numbers ------------------------------------------------------------------------------

// "+44 20 7946 0958", "+44 (0)20 7946 0958", "+1 (555) 123-4567", "+4930123456".
std::size_t InternationalPhoneAt(const Text& text, std::size_t i) {
  if (text.At(i) != '+' || !IsDigit(text.At(i + 1)) || text.At(i + 1) == '0') return 0;
  std::size_t j = i + 1;
  std::size_t digits = text.DigitRun(j);
  j += digits;
  bool separated = false;
  bool parenthesis_used = false;
  while (true) {
    std::size_t k = j;
    if (text.At(k) == ' ' || text.At(k) == '-') ++k;
    if (!parenthesis_used && text.At(k) == '(') {
      const std::size_t inner = text.DigitRun(k + 1);
      if (inner == 0 || inner > 5 || text.At(k + 1 + inner) != ')') break;
      const bool trunk = inner == 1 && text.At(k + 1) == '0';  // "(0)" is not dialled
      k += inner + 2;
      if (text.At(k) == ' ' || text.At(k) == '-') ++k;
      if (!IsDigit(text.At(k))) break;
      if (!trunk) digits += inner;
      parenthesis_used = true;
    } else if (k == j || !IsDigit(text.At(k))) {
      break;
    }
    separated = true;
    const std::size_t group = text.DigitRun(k);
    digits += group;
    j = k + group;
    if (digits > 17) return 0;  // longer than any phone number: stop reading
  }
  if (!text.TokenEnd(j)) return 0;
  const bool plausible = separated ? digits >= 8 && digits <= 17 : digits >= 10 && digits <= 15;
  return plausible ? j - i : 0;
}

// Whether the token at i continues a run of separated digit groups ("... 012 012"): the tail
// of a longer sequence is not a phone number.
bool ContinuesDigitGroups(const Text& text, std::size_t i) {
  const char before = text.Before(i);
  return (before == ' ' || before == '-' || before == '/') && i >= 2 && IsDigit(text.view()[i - 2]);
}

// UK and German national numbers: "07700 900123", "020 7946 0958", "(0161) 496 0000",
// "030 12345678", "089/1234567", "07700900123", "01711234567".
std::size_t NationalPhoneAt(const Text& text, std::size_t i) {
  std::size_t j = i;
  const bool parenthesis = text.At(j) == '(';
  if (parenthesis) ++j;
  if (text.At(j) != '0' || !IsDigit(text.At(j + 1)) || text.At(j + 1) == '0') return 0;
  const std::size_t number_start = j;
  const std::size_t first = text.DigitRun(j);
  j += first;
  std::size_t digits = first;
  bool separated = false;
  if (parenthesis) {
    if (text.At(j) != ')') return 0;
    ++j;
    if (text.At(j) == ' ') ++j;
    if (!IsDigit(text.At(j))) return 0;
    separated = true;
    const std::size_t group = text.DigitRun(j);
    digits += group;
    j += group;
  }
  while (true) {
    const char sep = text.At(j);
    if (sep != ' ' && sep != '-' && sep != '/') break;
    const std::size_t group = text.DigitRun(j + 1);
    if (group < 2) break;
    separated = true;
    digits += group;
    j += 1 + group;
    if (digits > 12) return 0;  // longer than any national number: stop reading
  }
  if (!text.TokenEnd(j)) return 0;
  if (separated) {
    return first >= 3 && first <= 6 && digits >= 9 && digits <= 12 ? j - i : 0;
  }
  const std::string_view number = text.view().substr(number_start, digits);
  const bool uk_mobile = digits == 11 && number.substr(0, 2) == "07";
  const bool de_mobile = (digits == 11 || digits == 12) &&
                         (number.substr(0, 3) == "015" || number.substr(0, 3) == "016" ||
                          number.substr(0, 3) == "017");
  return uk_mobile || de_mobile ? j - i : 0;
}

// ---- UK postcodes -------------------------------------------------------------------------------

bool IsPostcodeArea(std::string_view area) {
  static constexpr std::array<std::string_view, 124> kAreas = {
      "AB", "AL", "B",  "BA", "BB", "BD", "BF", "BH", "BL", "BN", "BR", "BS", "BT", "BX",
      "CA", "CB", "CF", "CH", "CM", "CO", "CR", "CT", "CV", "CW", "DA", "DD", "DE", "DG",
      "DH", "DL", "DN", "DT", "DY", "E",  "EC", "EH", "EN", "EX", "FK", "FY", "G",  "GL",
      "GU", "GY", "HA", "HD", "HG", "HP", "HR", "HS", "HU", "HX", "IG", "IM", "IP", "IV",
      "JE", "KA", "KT", "KW", "KY", "L",  "LA", "LD", "LE", "LL", "LN", "LS", "LU", "M",
      "ME", "MK", "ML", "N",  "NE", "NG", "NN", "NP", "NR", "NW", "OL", "OX", "PA", "PE",
      "PH", "PL", "PO", "PR", "RG", "RH", "RM", "S",  "SA", "SE", "SG", "SK", "SL", "SM",
      "SN", "SO", "SP", "SR", "SS", "ST", "SW", "SY", "TA", "TD", "TF", "TN", "TQ", "TR",
      "TS", "TW", "UB", "W",  "WA", "WC", "WD", "WF", "WN", "WR", "WS", "WV"};
  return std::find(kAreas.begin(), kAreas.end(), area) != kAreas.end();
}

bool IsInwardLetter(char c) {
  const char u = ToUpper(c);
  return IsUpper(u) && std::string_view("CIKMOV").find(u) == std::string_view::npos;
}

// A whole postcode "SW1A 1AA", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "W1A1AA".
std::size_t UkPostcodeAt(const Text& text, std::size_t i) {
  const auto inward_at = [&](std::size_t k) -> std::size_t {
    for (std::size_t m : {k, k + 1}) {
      if (m == k + 1 && text.At(k) != ' ') continue;
      if (IsDigit(text.At(m)) && IsInwardLetter(text.At(m + 1)) && IsInwardLetter(text.At(m + 2)) &&
          !IsWordByte(text.At(m + 3))) {
        return m + 3;
      }
    }
    return 0;
  };
  // Every postcode has a digit in its second, third or fourth place ("GIR 0AA" too).
  if (!IsDigit(text.At(i + 1)) && !IsDigit(text.At(i + 2)) && !IsDigit(text.At(i + 4))) return 0;
  std::size_t end = 0;
  const std::string_view s = text.view();
  if (ToUpper(text.At(i)) == 'G' && ToUpper(text.At(i + 1)) == 'I' &&
      ToUpper(text.At(i + 2)) == 'R') {
    end = inward_at(i + 3);  // GIR 0AA, Girobank
    if (end != 0 && (text.At(end - 3) != '0' || ToUpper(text.At(end - 2)) != 'A')) end = 0;
  }
  for (const std::size_t area_length : {std::size_t{2}, std::size_t{1}}) {
    if (end != 0) break;
    if (!IsAlpha(text.At(i)) || (area_length == 2 && !IsAlpha(text.At(i + 1)))) continue;
    std::string area(1, ToUpper(text.At(i)));
    if (area_length == 2) area.push_back(ToUpper(text.At(i + 1)));
    if (!IsPostcodeArea(area)) continue;
    const std::size_t district = i + area_length;
    if (!IsDigit(text.At(district))) continue;
    if (IsAlnum(text.At(district + 1))) end = inward_at(district + 2);  // A99, A9A, AA99, AA9A
    if (end == 0) end = inward_at(district + 1);                        // A9, AA9
  }
  if (end == 0) return 0;
  // One case throughout: "SW1A 1AA" or "sw1a 1aa", not a word in mixed case.
  bool upper = false, lower = false;
  for (std::size_t k = i; k < end; ++k) {
    upper = upper || IsUpper(s[k]);
    lower = lower || IsLower(s[k]);
  }
  return upper && lower ? 0 : end - i;
}

// ---- the scanner --------------------------------------------------------------------------------

std::vector<IdentifierMatch> Scan(std::string_view s, const ColumnContext& column) {
  const Text text(s);
  std::vector<IdentifierMatch> matches;
  const bool nhs_mentioned = column.nhs || ContainsNoCase(s, "nhs");
  std::vector<std::pair<std::size_t, std::size_t>> birth_words = BirthWords(s);
  std::sort(birth_words.begin(), birth_words.end());
  // A birth word ending at most 40 bytes before the date, or starting at most 20 after it.
  // Words are at most 6 bytes long, so a binary search bounds the candidates.
  const auto near_birth_word = [&](std::size_t begin, std::size_t end) {
    const std::size_t from = begin > 46 ? begin - 46 : 0;
    auto it = std::lower_bound(birth_words.begin(), birth_words.end(),
                               std::make_pair(from, std::size_t{0}));
    for (; it != birth_words.end() && it->first <= end + 20; ++it) {
      const auto [word_begin, word_end] = *it;
      if (word_end <= begin && begin - word_end <= 40) return true;
      if (word_begin >= end && word_begin - end <= 20) return true;
    }
    return false;
  };

  // Addresses first: their local parts may hold digits that look like anything else.
  std::vector<std::pair<std::size_t, std::size_t>> emails;
  for (std::size_t at = s.find('@'); at != std::string_view::npos; at = s.find('@', at + 1)) {
    const auto [begin, end] = EmailAround(text, at);
    if (end == 0 || (!emails.empty() && begin < emails.back().second)) continue;
    emails.emplace_back(begin, end);
  }
  std::size_t next_email = 0;

  const auto add = [&](IdentifierKind kind, std::size_t begin, std::size_t length) {
    matches.push_back({kind, begin, s.substr(begin, length)});
  };
  std::size_t i = 0;
  while (i < s.size()) {
    if (next_email < emails.size() && i == emails[next_email].first) {
      add(IdentifierKind::kEmail, i, emails[next_email].second - i);
      i = emails[next_email].second;
      ++next_email;
      continue;
    }
    const std::size_t limit = next_email < emails.size() ? emails[next_email].first : s.size();
    const char c = s[i];
    std::size_t length = 0;
    if (text.WordStart(i)) {
      if (IsAlpha(c)) {
        if ((length = IbanAt(text, i)) > 0) {
          add(IdentifierKind::kIban, i, length);
        } else if ((length = KvnrAt(text, i)) > 0) {
          add(IdentifierKind::kKvnr, i, length);
        } else if ((length = UkPostcodeAt(text, i)) > 0) {
          add(IdentifierKind::kUkPostcode, i, length);
        } else if (DateMatch date = WrittenDateAt(text, i); date.length > 0) {
          length = date.length;
          if (column.birth || near_birth_word(i, i + length)) {
            add(IdentifierKind::kDateOfBirth, i, length);
          }
        }
      } else if (c == '+' || c == '(') {
        if ((length = InternationalPhoneAt(text, i)) > 0 ||
            (length = NationalPhoneAt(text, i)) > 0) {
          add(IdentifierKind::kPhone, i, length);
        }
      } else if (IsDigit(c) && text.NumberStart(i)) {
        if (DateMatch date = DateAt(text, i); date.length > 0) {
          // Dates are consumed whether or not they are births, so that their digits are not
          // read as anything else.
          length = date.length;
          const bool birth = column.birth || (!date.has_time && near_birth_word(i, i + length));
          if (birth) add(IdentifierKind::kDateOfBirth, i, length);
        } else if ((length = NhsFormattedAt(text, i)) > 0 ||
                   (length = NhsUnformattedAt(text, i, column, nhs_mentioned)) > 0) {
          add(IdentifierKind::kNhsNumber, i, length);
        } else if (!ContinuesDigitGroups(text, i) && (length = NationalPhoneAt(text, i)) > 0) {
          add(IdentifierKind::kPhone, i, length);
        }
      }
    }
    // A match never runs into the next address; if one would, it is dropped.
    if (length > 0 && i + length > limit) {
      if (!matches.empty() && matches.back().offset == i) matches.pop_back();
      length = 0;
    }
    i += length > 0 ? length : 1;
  }
  return matches;
}

// ---- UTF-8 --------------------------------------------------------------------------------------

// The length of the well-formed UTF-8 sequence at i, or 0.
std::size_t Utf8SequenceLength(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) -> unsigned {
    return k < text.size() ? static_cast<unsigned char>(text[k]) : 0u;
  };
  const unsigned b0 = byte(i);
  if (i >= text.size()) return 0;
  if (b0 < 0x80) return 1;
  const auto continuation = [&](std::size_t k) { return (byte(k) & 0xC0u) == 0x80u; };
  if (b0 >= 0xC2 && b0 <= 0xDF) return continuation(i + 1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    const unsigned b1 = byte(i + 1);
    if (b0 == 0xE0 && b1 < 0xA0) return 0;   // overlong
    if (b0 == 0xED && b1 >= 0xA0) return 0;  // surrogates
    return continuation(i + 1) && continuation(i + 2) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    const unsigned b1 = byte(i + 1);
    if (b0 == 0xF0 && b1 < 0x90) return 0;   // overlong
    if (b0 == 0xF4 && b1 >= 0x90) return 0;  // above U+10FFFF
    return continuation(i + 1) && continuation(i + 2) && continuation(i + 3) ? 4 : 0;
  }
  return 0;
}

// ---- the rules ----------------------------------------------------------------------------------

bool ContentNotRead(const FileInput& input) {
  return input.content.empty() && input.size_bytes > 0;
}

nlohmann::json KindNames() {
  nlohmann::json kinds = nlohmann::json::array();
  for (IdentifierKind kind : AllIdentifierKinds()) kinds.push_back(IdentifierKindName(kind));
  return kinds;
}

class IdentifierFilter final : public OutputFilter {
 public:
  std::string_view Name() const override { return "direct_identifiers"; }

  std::optional<Finding> Apply(const FileContext& file) const override {
    if (!file.profile.check_identifiers) return std::nullopt;
    if (!IsTextExtension(LowerCaseExtension(file.input.path))) return std::nullopt;
    if (ContentNotRead(file.input)) return std::nullopt;
    Finding finding;
    finding.rule = std::string(Name());
    finding.parameters = {{"kinds", KindNames()}};
    std::map<IdentifierKind, std::size_t> counts;
    const auto record = [&](std::string_view text, std::string_view column, std::size_t row,
                            std::string_view where, std::string_view note_suffix) {
      for (const IdentifierMatch& match : FindIdentifiers(text, column)) {
        ++counts[match.kind];
        finding.AddCell({.row = row,
                         .column = std::string(where),
                         .value = MaskIdentifier(match.text),
                         .note = absl::StrCat(std::string(IdentifierKindName(match.kind)),
                                              std::string(note_suffix))});
      }
    };
    if (file.table != nullptr) {
      // A header that is itself an identifier: a table written without its header row.
      for (const std::string& name : file.table->header) {
        record(name, {}, 0, name, " in the header");
      }
      for (std::size_t row = 0; row < file.table->rows.size(); ++row) {
        const std::vector<std::string>& cells = file.table->rows[row];
        const std::size_t width = std::min(cells.size(), file.table->header.size());
        for (std::size_t column = 0; column < width; ++column) {
          const std::string& name = file.table->header[column];
          record(cells[column], name, row, name, "");
        }
      }
    } else {
      std::size_t line_number = 0;
      std::size_t start = 0;
      const std::string_view content = file.input.content;
      while (start <= content.size()) {
        std::size_t end = content.find('\n', start);
        if (end == std::string_view::npos) end = content.size();
        std::string_view line = content.substr(start, end - start);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        ++line_number;
        record(line, {}, line_number, {}, "");
        start = end + 1;
      }
    }
    if (finding.cells_total == 0) {
      finding.outcome = Verdict::kPass;
      finding.message = "No direct identifiers found.";
      return finding;
    }
    std::vector<std::string> parts;
    for (const auto& [kind, count] : counts) {
      parts.push_back(absl::StrCat(std::string(IdentifierKindName(kind)), " ", count));
    }
    finding.outcome = Verdict::kFail;
    finding.message = absl::StrCat(
        finding.cells_total, " direct identifier", finding.cells_total == 1 ? "" : "s", " found (",
        absl::StrJoin(parts, ", "), "); remove them. Values are masked in this report.");
    return finding;
  }
};

enum class ColumnClass { kNone, kIdentifier, kPostcode };

ColumnClass ClassifyColumn(std::string_view header) {
  std::string key = NormaliseColumnName(header);
  key.erase(std::remove(key.begin(), key.end(), '_'), key.end());
  static constexpr std::array<std::string_view, 44> kIdentifiers = {
      "patientid", "personid",        "subjectid",   "participantid",
      "nhsnumber", "nhsno",           "chi",         "chinumber",
      "mrn",       "hospitalnumber",  "kvnr",        "versichertennummer",
      "ssn",       "firstname",       "forename",    "surname",
      "lastname",  "fullname",        "patientname", "address",
      "street",    "dateofbirth",     "dob",         "birthdate",
      "email",     "emailaddress",    "phone",       "phonenumber",
      "telephone", "telephonenumber", "mobile",      "mobilenumber",
      "iban",      "geburtsdatum",    "vorname",     "nachname",
      "telefon",   "adresse",         "strasse",     "nhsid",
      "chino",     "hospitalno",      "forenames",   "givenname"};
  static constexpr std::array<std::string_view, 6> kPostcodes = {
      "postcode", "zip", "zipcode", "postalcode", "plz", "postleitzahl"};
  if (std::find(kIdentifiers.begin(), kIdentifiers.end(), key) != kIdentifiers.end()) {
    return ColumnClass::kIdentifier;
  }
  if (std::find(kPostcodes.begin(), kPostcodes.end(), key) != kPostcodes.end()) {
    return ColumnClass::kPostcode;
  }
  return ColumnClass::kNone;
}

class IdentifierColumnFilter final : public OutputFilter {
 public:
  std::string_view Name() const override { return "identifier_columns"; }

  std::optional<Finding> Apply(const FileContext& file) const override {
    if (!file.profile.check_identifiers || file.table == nullptr) return std::nullopt;
    Finding finding;
    finding.rule = std::string(Name());
    std::vector<std::string> identifiers, postcodes;
    for (const std::string& name : file.table->header) {
      const ColumnClass kind = ClassifyColumn(name);
      if (kind == ColumnClass::kNone) continue;
      (kind == ColumnClass::kIdentifier ? identifiers : postcodes).push_back(name);
      finding.AddCell({.row = 0, .column = name, .value = name, .note = "header"});
    }
    std::vector<std::string> sentences;
    if (!identifiers.empty()) {
      finding.outcome = Verdict::kFail;
      sentences.push_back(
          absl::StrCat("Columns that identify people: ", absl::StrJoin(identifiers, ", "),
                       "; drop them from the output."));
    }
    if (!postcodes.empty()) {
      finding.outcome = Worst(finding.outcome, Verdict::kReview);
      sentences.push_back(absl::StrCat("Postcode columns: ", absl::StrJoin(postcodes, ", "),
                                       "; check that they hold districts, not full postcodes."));
    }
    finding.message = sentences.empty() ? "No column names a patient-level identifier."
                                        : absl::StrJoin(sentences, " ");
    return finding;
  }
};

}  // namespace

std::string_view IdentifierKindName(IdentifierKind kind) {
  switch (kind) {
    case IdentifierKind::kNhsNumber:
      return "nhs_number";
    case IdentifierKind::kKvnr:
      return "kvnr";
    case IdentifierKind::kIban:
      return "iban";
    case IdentifierKind::kEmail:
      return "email";
    case IdentifierKind::kPhone:
      return "phone";
    case IdentifierKind::kUkPostcode:
      return "uk_postcode";
    case IdentifierKind::kDateOfBirth:
      return "date_of_birth";
  }
  return "unknown";
}

const std::vector<IdentifierKind>& AllIdentifierKinds() {
  static const std::vector<IdentifierKind> kKinds = {
      IdentifierKind::kNhsNumber,  IdentifierKind::kKvnr,  IdentifierKind::kIban,
      IdentifierKind::kEmail,      IdentifierKind::kPhone, IdentifierKind::kUkPostcode,
      IdentifierKind::kDateOfBirth};
  return kKinds;
}

std::vector<IdentifierMatch> FindIdentifiers(std::string_view text, std::string_view column) {
  return Scan(text, ContextOfColumn(column));
}

bool IsValidNhsNumber(std::string_view digits) {
  if (digits.size() != 10 || !std::all_of(digits.begin(), digits.end(), IsDigit)) return false;
  int sum = 0;
  for (std::size_t i = 0; i < 9; ++i) sum += DigitValue(digits[i]) * static_cast<int>(10 - i);
  int check = 11 - sum % 11;
  if (check == 11) check = 0;
  if (check == 10) return false;
  return check == DigitValue(digits[9]);
}

bool IsValidKvnr(std::string_view kvnr) {
  if (kvnr.size() != 10 || !IsUpper(kvnr[0])) return false;
  if (!std::all_of(kvnr.begin() + 1, kvnr.end(), IsDigit)) return false;
  const int letter = kvnr[0] - 'A' + 1;
  std::array<int, 10> digits = {letter / 10, letter % 10};
  for (std::size_t i = 1; i <= 8; ++i) digits[i + 1] = DigitValue(kvnr[i]);
  int sum = 0;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    const int product = digits[i] * (i % 2 == 0 ? 1 : 2);
    sum += product / 10 + product % 10;
  }
  return sum % 10 == DigitValue(kvnr[9]);
}

std::optional<std::size_t> IbanLength(std::string_view country) {
  struct Entry {
    std::string_view country;
    std::size_t length;
  };
  // SWIFT IBAN registry: the EU/EEA, the UK, Switzerland, their neighbours and a few more.
  static constexpr std::array<Entry, 58> kLengths = {{
      {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
      {"BG", 22}, {"BH", 22}, {"BY", 28}, {"CH", 21}, {"CY", 28}, {"CZ", 24}, {"DE", 22},
      {"DK", 18}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27},
      {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"HR", 21}, {"HU", 28},
      {"IE", 22}, {"IL", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20},
      {"LB", 28}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21}, {"MC", 27}, {"MD", 24},
      {"ME", 22}, {"MK", 19}, {"MT", 31}, {"NL", 18}, {"NO", 15}, {"PL", 28}, {"PT", 25},
      {"QA", 29}, {"RO", 24}, {"RS", 22}, {"SA", 24}, {"SE", 24}, {"SI", 19}, {"SK", 24},
      {"SM", 27}, {"TR", 26},
  }};
  for (const Entry& entry : kLengths) {
    if (entry.country == country) return entry.length;
  }
  if (country == "UA") return 29;
  if (country == "VA") return 22;
  if (country == "XK") return 20;
  return std::nullopt;
}

bool IsValidIban(std::string_view iban) {
  std::string compact;
  for (std::size_t i = 0; i < iban.size(); ++i) {
    const char c = iban[i];
    if (c == ' ') {
      // Single spaces between groups of four only.
      if (compact.empty() || compact.size() % 4 != 0 || i + 1 >= iban.size() ||
          iban[i + 1] == ' ') {
        return false;
      }
      continue;
    }
    if (!IsAlnum(c)) return false;
    compact.push_back(ToUpper(c));
  }
  if (compact.size() < 5 || !IsUpper(compact[0]) || !IsUpper(compact[1]) || !IsDigit(compact[2]) ||
      !IsDigit(compact[3])) {
    return false;
  }
  const std::optional<std::size_t> length = IbanLength(compact.substr(0, 2));
  if (!length || compact.size() != *length) return false;
  // ISO 7064 MOD 97-10: the first four characters move to the end, letters become 10..35.
  const std::string rearranged = compact.substr(4) + compact.substr(0, 4);
  int remainder = 0;
  for (char c : rearranged) {
    if (IsDigit(c)) {
      remainder = (remainder * 10 + DigitValue(c)) % 97;
    } else {
      remainder = (remainder * 100 + (c - 'A' + 10)) % 97;
    }
  }
  return remainder == 1;
}

std::string NormaliseColumnName(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (IsAlnum(c)) {
      out.push_back(ToLower(c));
    } else if (!out.empty() && out.back() != '_') {
      out.push_back('_');
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

std::optional<std::size_t> FirstInvalidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t length = Utf8SequenceLength(text, i);
    if (length == 0) return i;
    i += length;
  }
  return std::nullopt;
}

std::string LowerCaseExtension(std::string_view path) {
  const std::size_t slash = path.find_last_of("/\\");
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const std::size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return "";
  return LowerAscii(name.substr(dot));
}

bool IsTextExtension(std::string_view lower_case_extension) {
  return lower_case_extension != ".png" && lower_case_extension != ".pdf";
}

std::string MaskIdentifier(std::string_view value) {
  std::string masked;
  std::size_t characters = 0;
  std::size_t i = 0;
  while (i < value.size()) {
    const std::size_t length = Utf8SequenceLength(value, i);
    if (characters < 3 && length > 0) {
      masked.append(value.substr(i, length));
    } else {
      masked.push_back('*');  // also any byte that is not UTF-8: the report stays valid JSON
    }
    ++characters;
    i += length > 0 ? length : 1;
  }
  return masked;
}

std::unique_ptr<OutputFilter> NewIdentifierFilter() { return std::make_unique<IdentifierFilter>(); }

std::unique_ptr<OutputFilter> NewIdentifierColumnFilter() {
  return std::make_unique<IdentifierColumnFilter>();
}

}  // namespace safeflow::executor::disclosure
