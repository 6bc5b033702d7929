# One warning set for every target built from this tree (library components,
# gateway_testing, gateway_yaml_config, tests, examples, bench and fuzz
# targets), so a warning cannot hide in a target that was set up by hand.
#
#   gateway_warnings(<target>)
#
# -Wno-unused-parameter: interfaces (Filter, the codec callbacks) are
# overridden by implementations that ignore some arguments; naming them keeps
# the declarations readable. -Wno-missing-field-initializers: designated
# initializers that leave fields at their defaults are the intended style.
set(GATEWAY_WARNING_FLAGS
  -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual -Wimplicit-fallthrough
  -Wno-unused-parameter -Wno-missing-field-initializers)

function(gateway_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:${GATEWAY_WARNING_FLAGS}>)
endfunction()
