// executor/disclosure/identifiers.h. Recognising direct identifiers in output text: the pure
// helpers behind the "direct_identifiers" and "identifier_columns" rules (filter.h), exposed so
// that each check can be tested at its boundaries. Also the UTF-8 check the rules share.
// Pure code, no I/O, no state: safe to call from any thread.
//
// What is recognised, and when (a value must also stand alone: not inside a longer word or
// number, a decimal, or a date/time):
//   nhs_number     10 digits passing the NHS modulus-11 check, written 3-3-4 with spaces or
//                  dashes; or unformatted when the column header or the text mentions "nhs";
//                  or unformatted starting with 4, 6 or 7 (England and Wales) unless it is the
//                  whole cell of a column named as a quantity (value, count, total, ...).
//   kvnr           German health insurance number: a capital letter, 8 digits, a check digit.
//   iban           2 letters, 2 check digits and the country's length (EU/EEA, GB, CH and more),
//                  compact or in groups of 4, passing ISO 7064 mod 97.
//   email          local@domain.tld.
//   phone          +CC followed by 7..14 digits (separated by ' ' or '-', "(0)" allowed);
//                  UK/German national numbers 0xx.. with separators (9..12 digits, first group
//                  3..6 digits); unseparated only 07 + 9 digits (UK mobile) or 015/016/017 + 8..9
//                  digits (German mobile).
//   uk_postcode    a full UK postcode (outward + inward code) of a real postcode area, e.g.
//                  "SW1A 1AA" or "M11AE"; an outward code alone ("SW1A") is an aggregate.
//   date_of_birth  a valid date (yyyy-mm-dd, yyyy/mm/dd, dd/mm/yyyy, dd.mm.yyyy, dd-mm-yyyy,
//                  "12 March 1961", "March 12, 1961", "12. März 1961") in a column whose header
//                  mentions dob/birth/born/geburt, or up to 40 characters after (20 before) one
//                  of those words in the text. Timestamps with a time of day only count in
//                  such a column.
#ifndef SAFEFLOW_EXECUTOR_DISCLOSURE_IDENTIFIERS_H_
#define SAFEFLOW_EXECUTOR_DISCLOSURE_IDENTIFIERS_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace safeflow::executor::disclosure {

enum class IdentifierKind {
  kNhsNumber,
  kKvnr,
  kIban,
  kEmail,
  kPhone,
  kUkPostcode,
  kDateOfBirth,
};

// "nhs_number", "kvnr", "iban", "email", "phone", "uk_postcode", "date_of_birth".
std::string_view IdentifierKindName(IdentifierKind kind);
// Every kind, in declaration order.
const std::vector<IdentifierKind>& AllIdentifierKinds();

struct IdentifierMatch {
  IdentifierKind kind;
  std::size_t offset = 0;  // byte offset of the value in the scanned text
  std::string_view text;   // the value as written (a view into the scanned text)
};

// The identifiers in one cell of a table whose column is headed `column` (which may make
// unformatted NHS numbers and dates of birth count, see above), or in one line of text when
// `column` is empty. Matches are in text order and never overlap.
std::vector<IdentifierMatch> FindIdentifiers(std::string_view text, std::string_view column = {});

// NHS number check: exactly 10 ASCII digits; weights 10..2 over the first 9, check digit
// 11 - (sum mod 11), 11 meaning 0 and 10 meaning the number is invalid.
bool IsValidNhsNumber(std::string_view digits);

// KVNR check: a capital A-Z then 9 ASCII digits. The letter becomes 01..26, then weights
// 1,2,1,2,... over those 10 digits, products reduced to their digit sum, total mod 10 equals
// the last digit.
bool IsValidKvnr(std::string_view kvnr);

// The IBAN length of a country (upper-case ISO 3166 alpha-2), nullopt when not known.
std::optional<std::size_t> IbanLength(std::string_view country);

// IBAN check: country known, its length, 2 check digits, BBAN of letters and digits, and
// mod 97 == 1. Single spaces between groups of 4 are allowed; letters in either case.
bool IsValidIban(std::string_view iban);

// A header name for matching: ASCII letters lower-cased, every other byte but digits becomes
// '_', runs of '_' collapse to one and leading/trailing '_' are dropped ("NHS No." ->
// "nhs_no").
std::string NormaliseColumnName(std::string_view name);

// Text helpers shared by the rules of this folder.

// The byte offset of the first byte that is not part of well-formed UTF-8 (overlong forms,
// surrogates and code points above U+10FFFF are refused), or nullopt when all of it is.
std::optional<std::size_t> FirstInvalidUtf8(std::string_view text);

// The extension of the last path component, with its dot, ASCII lower-cased: "a/B.CSV" ->
// ".csv", "x.tar.gz" -> ".gz". Empty when there is none ("README", ".profile", "dir.d/x").
std::string LowerCaseExtension(std::string_view path);

// Whether the rules read `input`-like content as text (every extension but .png and .pdf).
bool IsTextExtension(std::string_view lower_case_extension);

}  // namespace safeflow::executor::disclosure

#endif  // SAFEFLOW_EXECUTOR_DISCLOSURE_IDENTIFIERS_H_
