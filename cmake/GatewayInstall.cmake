# Install rules and the exported CMake package `gateway`:
#
#   find_package(gateway CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE gateway::gateway)   # or gateway::testing
#
# Only `gateway` and `gateway_testing` (and `gateway_yaml_config` once it exists)
# are exported. The component OBJECT libraries and gateway_llhttp are compiled
# into libgateway.a and are not part of the package; what the exported targets
# need at link time (Abseil, fmt, libuv, RE2, hiredis, Threads) is found again by
# gatewayConfig.cmake.
include(CMakePackageConfigHelpers)

set(GATEWAY_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/gateway"
    CACHE STRING "Where gatewayConfig.cmake is installed, relative to the prefix")

set(GATEWAY_EXPORTED_TARGETS gateway gateway_testing)
set_target_properties(gateway PROPERTIES EXPORT_NAME gateway)
set_target_properties(gateway_testing PROPERTIES EXPORT_NAME testing)

set(GATEWAY_EXPORT_YAML_CONFIG OFF)
if(TARGET gateway_yaml_config)
  set(GATEWAY_EXPORT_YAML_CONFIG ON)
  list(APPEND GATEWAY_EXPORTED_TARGETS gateway_yaml_config)
  set_target_properties(gateway_yaml_config PROPERTIES EXPORT_NAME yaml_config)
endif()

install(TARGETS ${GATEWAY_EXPORTED_TARGETS}
  EXPORT gatewayTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The public API only: include/gateway/**.h (never lib/ headers).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/gateway
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")

install(EXPORT gatewayTargets
  NAMESPACE gateway::
  FILE gatewayTargets.cmake
  DESTINATION ${GATEWAY_INSTALL_CMAKEDIR})

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/gatewayConfig.cmake.in
  ${PROJECT_BINARY_DIR}/gatewayConfig.cmake
  INSTALL_DESTINATION ${GATEWAY_INSTALL_CMAKEDIR})

# 0.x: minor versions may break the API.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/gatewayConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)

install(FILES
  ${PROJECT_BINARY_DIR}/gatewayConfig.cmake
  ${PROJECT_BINARY_DIR}/gatewayConfigVersion.cmake
  DESTINATION ${GATEWAY_INSTALL_CMAKEDIR})

install(FILES ${PROJECT_SOURCE_DIR}/LICENSE
  DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/gateway
  OPTIONAL)
