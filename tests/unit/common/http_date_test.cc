#include "common/http_date.h"

#include <catch2/catch.hpp>

#include <string>

#include "gateway/testing/harness.h"

namespace gateway::internal {
namespace {

std::string Format(absl::Time t) {
  char out[29];
  FormatHttpDate(t, out);
  return std::string(out, sizeof(out));
}

TEST_CASE("Date values are IMF-fixdate in GMT with English names") {
  // RFC 9110 5.6.7's own example.
  CHECK(Format(absl::FromUnixSeconds(784111777)) == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(Format(absl::FromUnixSeconds(0)) == "Thu, 01 Jan 1970 00:00:00 GMT");
  // Sub-second parts are cut, not rounded.
  CHECK(Format(absl::FromUnixSeconds(1'700'000'000) + absl::Milliseconds(999)) ==
        "Tue, 14 Nov 2023 22:13:20 GMT");
  CHECK(Format(absl::FromCivil(absl::CivilSecond(2024, 2, 29, 23, 59, 59), absl::UTCTimeZone())) ==
        "Thu, 29 Feb 2024 23:59:59 GMT");
  CHECK(Format(absl::FromCivil(absl::CivilSecond(2026, 12, 6, 1, 2, 3), absl::UTCTimeZone())) ==
        "Sun, 06 Dec 2026 01:02:03 GMT");
}

TEST_CASE("the Date cache formats once per second of the clock") {
  testing::ManualClock clock;  // 1'700'000'000 s: Tue, 14 Nov 2023 22:13:20 GMT
  HttpDateCache cache;
  CHECK(cache.Get(clock.Now()) == "Tue, 14 Nov 2023 22:13:20 GMT");
  CHECK(cache.formats() == 1);
  for (int i = 0; i < 9; ++i) {
    clock.Advance(absl::Milliseconds(100));
    CHECK(cache.Get(clock.Now()) == "Tue, 14 Nov 2023 22:13:20 GMT");
  }
  CHECK(cache.formats() == 1);
  clock.Advance(absl::Milliseconds(100));  // the next second
  CHECK(cache.Get(clock.Now()) == "Tue, 14 Nov 2023 22:13:21 GMT");
  CHECK(cache.Get(clock.Now()) == "Tue, 14 Nov 2023 22:13:21 GMT");
  CHECK(cache.formats() == 2);
  clock.Advance(absl::Hours(24));
  CHECK(cache.Get(clock.Now()) == "Wed, 15 Nov 2023 22:13:21 GMT");
  CHECK(cache.formats() == 3);
}

TEST_CASE("the Date cache follows a wall clock that steps back") {
  HttpDateCache cache;
  CHECK(cache.Get(absl::FromUnixSeconds(1'700'000'010)) == "Tue, 14 Nov 2023 22:13:30 GMT");
  CHECK(cache.Get(absl::FromUnixSeconds(1'700'000'000)) == "Tue, 14 Nov 2023 22:13:20 GMT");
  CHECK(cache.formats() == 2);
}

}  // namespace
}  // namespace gateway::internal
