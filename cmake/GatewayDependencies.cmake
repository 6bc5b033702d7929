# Third-party dependencies, all from the system (Debian packages).
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
find_package(absl CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
# hiredis (with its libuv adapter header) for the Redis rate limiter.
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)

# llhttp: Debian's node-llhttp ships the generated C sources; build them as a private
# static library. Nothing outside lib/codec sees its header. The sources hold two
# parsers, chosen by LLHTTP_STRICT_MODE before anything is included (llhttp.c tests
# the macro on its first line, so it must come from the command line): the strict
# one refuses a bare CR, whitespace inside a field name, bytes after a chunk's data
# other than CRLF and non-ASCII request targets, which the codec then need not
# check itself. PUBLIC, so the codec's own sources see the same value
# (lib/codec/http1_parser.cc refuses to build against the loose parser).
set(GATEWAY_LLHTTP_SOURCE_DIR "/usr/share/llhttp" CACHE PATH "Directory with llhttp.c, api.c, http.c")
set(GATEWAY_LLHTTP_INCLUDE_DIR "/usr/share/include/llhttp" CACHE PATH "Directory with llhttp.h")
if(NOT EXISTS "${GATEWAY_LLHTTP_SOURCE_DIR}/llhttp.c" OR NOT EXISTS "${GATEWAY_LLHTTP_INCLUDE_DIR}/llhttp.h")
  message(FATAL_ERROR "llhttp sources not found; install Debian's node-llhttp package")
endif()
if(NOT TARGET gateway_llhttp)
  add_library(gateway_llhttp STATIC
    ${GATEWAY_LLHTTP_SOURCE_DIR}/llhttp.c
    ${GATEWAY_LLHTTP_SOURCE_DIR}/api.c
    ${GATEWAY_LLHTTP_SOURCE_DIR}/http.c)
  target_include_directories(gateway_llhttp SYSTEM PUBLIC ${GATEWAY_LLHTTP_INCLUDE_DIR})
  target_compile_definitions(gateway_llhttp PUBLIC LLHTTP_STRICT_MODE=1)
  set_target_properties(gateway_llhttp PROPERTIES C_VISIBILITY_PRESET hidden)
endif()
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
