// BodyBuffer: reads and drops copy nothing; writes go to the owner's storage.
#include "gateway/body_buffer.h"

#include <string>

#include <catch2/catch.hpp>

namespace gateway {
namespace {

TEST_CASE("an untouched body buffer views its bytes without copying them") {
  const std::string wire = "from the wire";
  std::string storage = "old";
  BodyBuffer body(wire, storage);
  REQUIRE(body.view() == "from the wire");
  REQUIRE(body.view().data() == wire.data());
  REQUIRE(body.size() == wire.size());
  REQUIRE_FALSE(body.modified());
  REQUIRE(storage == "old");  // never written
}

TEST_CASE("dropping body bytes copies nothing") {
  const std::string wire = "0123456789";
  std::string storage;
  BodyBuffer body(wire, storage);
  body.Drain(4);
  REQUIRE(body.view() == "456789");
  REQUIRE(body.view().data() == wire.data() + 4);
  REQUIRE(body.modified());
  body.Drain(100);
  REQUIRE(body.empty());

  BodyBuffer other(wire, storage);
  other.Clear();
  REQUIRE(other.empty());
  REQUIRE(other.modified());
  REQUIRE(storage.empty());
}

TEST_CASE("writes that change nothing do not count as changes") {
  const std::string wire = "abc";
  std::string storage;
  BodyBuffer body(wire, storage);
  body.Append("");
  body.Prepend("");
  body.Drain(0);
  REQUIRE_FALSE(body.modified());
  std::string empty_wire;
  BodyBuffer empty(empty_wire, storage);
  empty.Clear();
  REQUIRE_FALSE(empty.modified());
}

TEST_CASE("append, prepend and replace write into the supplied storage") {
  const std::string wire = "middle";
  std::string storage = "stale contents";
  BodyBuffer body(wire, storage);
  body.Append("-end");
  body.Prepend("start-");
  REQUIRE(body.view() == "start-middle-end");
  REQUIRE(body.view().data() == storage.data());
  REQUIRE(wire == "middle");  // the viewed bytes are never written
  body.Replace("new");
  REQUIRE(body.view() == "new");
  body.Drain(1);
  REQUIRE(body.view() == "ew");
  REQUIRE(body.modified());
}

TEST_CASE("a body buffer may be replaced and appended with a view of itself") {
  const std::string wire = "abcdef";
  std::string storage;
  BodyBuffer body(wire, storage);
  body.Append("x");  // now in storage
  body.Replace(body.view().substr(2));
  REQUIRE(body.view() == "cdefx");
  body.Append(body.view());
  REQUIRE(body.view() == "cdefxcdefx");
  body.Prepend(body.view().substr(0, 2));
  REQUIRE(body.view() == "cdcdefxcdefx");
}

TEST_CASE("Mutable edits the bytes in place and counts as a change") {
  const std::string wire = "shout";
  std::string storage;
  BodyBuffer body(wire, storage);
  for (char& c : body.Mutable()) c = static_cast<char>(c - 'a' + 'A');
  REQUIRE(body.view() == "SHOUT");
  REQUIRE(wire == "shout");
  REQUIRE(body.modified());
}

TEST_CASE("a body buffer over a string edits that string") {
  std::string contents = "hello";
  BodyBuffer body(contents);
  REQUIRE(body.view().data() == contents.data());
  body.Append(", world");
  REQUIRE(contents == "hello, world");
  body.Clear();
  REQUIRE(body.empty());
  REQUIRE(contents.empty());
}

}  // namespace
}  // namespace gateway
