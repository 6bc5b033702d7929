# One warning set for every target built from this tree (library components,
# gateway_testing, gateway_yaml_config, tests, examples, bench and fuzz
# targets), so a warning cannot hide in a target that was set up by hand.
#
#   gateway_warnings(<target>)
#
# GATEWAY_WERROR turns the warnings into errors. It is OFF by default so that
# a newer compiler with new warnings never breaks a user's build; CI turns it
# on (scripts/test.sh, when GATEWAY_WERROR=ON is in the environment).
#
# -Wno-unused-parameter: interfaces (Filter, the codec callbacks) are
# overridden by implementations that ignore some arguments; naming them keeps
# the declarations readable. -Wno-missing-field-initializers: designated
# initializers that leave fields at their defaults are the intended style.
option(GATEWAY_WERROR "Treat compiler warnings as errors (CI)" OFF)

set(GATEWAY_WARNING_FLAGS
  -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual -Wimplicit-fallthrough
  -Wno-unused-parameter -Wno-missing-field-initializers)
# gcc 12 reports -Wrestrict on libstdc++'s own inlined std::string code
# (`"literal" + std::string` at -O2 and above, GCC PR 105329): the warning is
# the compiler's, not ours, and comes back on with gcc 13.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
   AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  list(APPEND GATEWAY_WARNING_FLAGS -Wno-restrict)
endif()
if(GATEWAY_WERROR)
  list(APPEND GATEWAY_WARNING_FLAGS -Werror)
  # gcc's -Wmaybe-uninitialized gives false positives under the sanitizers
  # (its manual says so; gcc 12 -O1 -fsanitize=address flags libstdc++'s own
  # std::regex as Catch2 includes it). It stays a warning there and an error
  # in the Release build, which sees the same code without instrumentation.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND (GATEWAY_SANITIZE OR GATEWAY_TSAN))
    list(APPEND GATEWAY_WARNING_FLAGS -Wno-error=maybe-uninitialized)
  endif()
endif()

function(gateway_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:${GATEWAY_WARNING_FLAGS}>)
endfunction()
