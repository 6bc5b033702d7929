#include "common/http_date.h"

namespace gateway::internal {
namespace {

void Put2(int v, char* p) {
  p[0] = static_cast<char>('0' + v / 10 % 10);
  p[1] = static_cast<char>('0' + v % 10);
}

}  // namespace

void FormatHttpDate(absl::Time t, char (&out)[29]) {
  // Written by hand: strftime's names follow the locale, and the field must
  // be in English whatever the process's locale is.
  static constexpr char kDays[7][4] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  static constexpr char kMonths[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const absl::CivilSecond c = absl::ToCivilSecond(t, absl::UTCTimeZone());
  // absl::Weekday runs Monday..Sunday from 0.
  const int weekday = static_cast<int>(absl::GetWeekday(c));
  char* p = out;
  for (int i = 0; i < 3; ++i) *p++ = kDays[weekday][i];
  *p++ = ',';
  *p++ = ' ';
  Put2(c.day(), p);
  p[2] = ' ';
  p += 3;
  for (int i = 0; i < 3; ++i) *p++ = kMonths[c.month() - 1][i];
  *p++ = ' ';
  // Four digits: IMF-fixdate has no room for years past 9999.
  const int64_t year = c.year() < 0 ? 0 : (c.year() > 9999 ? 9999 : c.year());
  Put2(static_cast<int>(year / 100), p);
  Put2(static_cast<int>(year % 100), p + 2);
  p[4] = ' ';
  p += 5;
  Put2(c.hour(), p);
  p[2] = ':';
  Put2(c.minute(), p + 3);
  p[5] = ':';
  Put2(c.second(), p + 6);
  p += 8;
  *p++ = ' ';
  *p++ = 'G';
  *p++ = 'M';
  *p = 'T';
}

}  // namespace gateway::internal
