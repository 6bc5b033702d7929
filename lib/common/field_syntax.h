// The character classes of HTTP/1.1 field syntax (RFC 9110) and the checks
// built on them, shared by HeaderMap (which notes whether every field it holds
// is valid) and the HTTP/1.1 codec (which checks what it parses and encodes).
// Pure functions; safe on any thread.
#ifndef GATEWAY_LIB_COMMON_FIELD_SYNTAX_H_
#define GATEWAY_LIB_COMMON_FIELD_SYNTAX_H_

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace gateway::internal {

// Bits of the character class table.
inline constexpr uint8_t kTokenChar = 1;  // tchar: field names, methods
inline constexpr uint8_t kFieldChar = 2;  // VCHAR, obs-text, SP, HTAB: inside field values
inline constexpr uint8_t kHostChar = 4;   // unreserved, sub-delims, '%': reg-name and IPv4

namespace syntax_detail {
constexpr std::array<uint8_t, 256> MakeCharClass() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t bits = 0;
    bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alnum) bits |= kTokenChar | kHostChar;
    switch (c) {
      case '!':
      case '#':
      case '$':
      case '%':
      case '&':
      case '\'':
      case '*':
      case '+':
      case '-':
      case '.':
      case '^':
      case '_':
      case '`':
      case '|':
      case '~':
        bits |= kTokenChar;
        break;
      default:
        break;
    }
    switch (c) {
      case '-':
      case '.':
      case '_':
      case '~':
      case '!':
      case '$':
      case '&':
      case '\'':
      case '(':
      case ')':
      case '*':
      case '+':
      case ',':
      case ';':
      case '=':
      case '%':
        bits |= kHostChar;
        break;
      default:
        break;
    }
    if ((c > 0x20 && c != 0x7f) || c == ' ' || c == '\t') bits |= kFieldChar;
    t[static_cast<size_t>(c)] = bits;
  }
  return t;
}
}  // namespace syntax_detail

inline constexpr std::array<uint8_t, 256> kCharClass = syntax_detail::MakeCharClass();

inline bool HasClass(char c, uint8_t bits) {
  return (kCharClass[static_cast<unsigned char>(c)] & bits) != 0;
}

// field-name = token (non-empty, tchar only: no whitespace, no colon).
// Inline, like TrimOws: both run for every field parsed and every field encoded.
inline bool IsFieldName(std::string_view s) {
  uint8_t all = s.empty() ? 0 : kTokenChar;
  for (char c : s) all &= kCharClass[static_cast<unsigned char>(c)];
  return all != 0;
}
// A field value with OWS already removed: no CR, LF, NUL or other control
// characters except HTAB.
bool IsFieldValue(std::string_view s);
// Removes leading and trailing SP / HTAB.
inline std::string_view TrimOws(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

// `name` equals `lower`, a lower-case literal of letters, digits and '-',
// ignoring case. Setting bit 5 of a byte folds the case of a letter and maps
// nothing else onto a letter, a digit or '-' but control characters (CR onto
// '-'), which no field name holds; with a letters-only literal any `name`
// may be given.
inline bool NameIs(std::string_view name, std::string_view lower) {
  if (name.size() != lower.size()) return false;
  constexpr uint64_t kFold = 0x2020202020202020ULL;
  size_t i = 0;
  for (; i + 8 <= name.size(); i += 8) {
    uint64_t a;
    uint64_t b;
    std::memcpy(&a, name.data() + i, 8);
    std::memcpy(&b, lower.data() + i, 8);
    if ((a | kFold) != b) return false;
  }
  for (; i < name.size(); ++i) {
    if (static_cast<char>(name[i] | 0x20) != lower[i]) return false;
  }
  return true;
}

// A field the encoder may write as it is: a valid name, and a value with no
// surrounding OWS and no forbidden character.
inline bool IsCleanField(std::string_view name, std::string_view value) {
  return IsFieldName(name) && TrimOws(value).size() == value.size() && IsFieldValue(value);
}

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_COMMON_FIELD_SYNTAX_H_
