#include "common/spare_cache.h"

#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "gateway/http.h"

namespace gateway::internal {
namespace {

using Spares = SpareCache<std::vector<int>, 2>;

TEST_CASE("a given container's capacity is handed to the next take on the thread") {
  std::vector<int> a;
  a.reserve(100);
  const int* storage = a.data();
  a.push_back(7);
  Spares::Give(a, 8, 1000);
  CHECK(a.empty());
  std::vector<int> b;
  REQUIRE(Spares::Take(b, 50));
  CHECK(b == std::vector<int>{7});  // handed on as it was given
  CHECK(b.capacity() >= 100);
  CHECK(b.data() == storage);
  std::vector<int> c;
  CHECK_FALSE(Spares::Take(c));  // nothing left
}

TEST_CASE("the spare cache keeps at most its bound and only capacities within limits") {
  std::vector<int> small, large;
  small.reserve(4);
  large.reserve(5000);
  Spares::Give(small, 8, 1000);  // below the minimum
  Spares::Give(large, 8, 1000);  // above the maximum
  CHECK(small.empty());
  CHECK(large.empty());
  std::vector<int> none;
  CHECK_FALSE(Spares::Take(none));

  std::vector<int> v[3];
  for (auto& x : v) x.reserve(16);
  for (auto& x : v) Spares::Give(x, 8, 1000);  // the third finds no room
  std::vector<int> out[3];
  CHECK(Spares::Take(out[0]));
  CHECK(Spares::Take(out[1]));
  CHECK_FALSE(Spares::Take(out[2]));
  // A spare smaller than asked for stays where it is.
  Spares::Give(out[0], 8, 1000);
  CHECK_FALSE(Spares::Take(out[2], 64));
  CHECK(Spares::Take(out[2], 16));
}

TEST_CASE("spares of a thread are freed when it exits and never cross threads") {
  std::thread t([] {
    std::vector<int> x;
    x.reserve(32);
    Spares::Give(x, 8, 1000);  // freed at exit (LeakSanitizer would notice otherwise)
  });
  t.join();
  std::vector<int> mine;
  CHECK_FALSE(Spares::Take(mine));
}

TEST_CASE("a header map reuses the field storage of a destroyed one") {
  const HeaderMap::Field* storage = nullptr;
  {
    HeaderMap done;
    done.Reserve(8);
    done.Add("host", "example.com");
    storage = done.fields().data();
  }
  HeaderMap next;
  next.Reserve(8);
  CHECK(next.empty());
  CHECK(next.fields().data() == storage);
  next.Add("a", "1");
  CHECK(next.size() == 1);
  CHECK(next.Get("a") == "1");
  CHECK_FALSE(next.Has("host"));  // the earlier map's field is not live here
}

TEST_CASE("removed header fields leave no trace and their slots are reused") {
  HeaderMap h{{"a", "1"}, {"b", "a value longer than sixteen bytes"}, {"c", "3"}, {"b", "4"}};
  CHECK(h.Remove("B") == 2);
  CHECK(h.size() == 2);
  CHECK(h == HeaderMap{{"a", "1"}, {"c", "3"}});
  h.Add("d", "another value longer than sixteen");
  h.Set("a", "x");
  CHECK(h == HeaderMap{{"a", "x"}, {"c", "3"}, {"d", "another value longer than sixteen"}});
  HeaderMap copy = h;
  CHECK(copy == h);
  HeaderMap moved = std::move(copy);
  CHECK(moved == h);
  CHECK(copy.empty());  // NOLINT(bugprone-use-after-move): moved-from maps are empty
  h.Clear();
  CHECK(h.empty());
  CHECK(h.begin() == h.end());
  CHECK_FALSE(h.Get("c").has_value());
  h.Add("e", "5");
  CHECK(h == HeaderMap{{"e", "5"}});
}

TEST_CASE("spare header entries keep short strings' buffers and drop long ones") {
  const std::string long_value(200, 'x');
  const char* short_buffer = nullptr;
  {
    HeaderMap done;
    done.Reserve(8);
    done.Add("x-a", "a value of more than fifteen");  // heap, short enough to keep
    done.Add("cookie", long_value);
    short_buffer = done.fields()[0].value.data();
  }
  HeaderMap next;
  next.Reserve(8);
  next.Add("x-b", "another of more than fifteen");
  CHECK(next.fields()[0].value.data() == short_buffer);  // no new allocation
  next.Add("x-c", "1");
  CHECK(next.fields()[1].value.capacity() < long_value.size());  // the long one was freed
}

}  // namespace
}  // namespace gateway::internal
