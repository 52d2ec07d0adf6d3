# The fixture of the find_package and pkg-config consumers: configures this source tree into a
# fresh build directory (tests, examples and benches off), installs it into a fresh PREFIX, and
# checks that the prefix holds exactly the headers of the targets' FILE_SETs.
# cmake -D CASE=<settings file> -P install.cmake, the file setting (tests/consumers.cmake):
#   SOURCE_DIR WORK PREFIX HEADERS (as in #include <...>) and this build's settings
cmake_minimum_required(VERSION 3.23)
include("${CASE}")
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

file(REMOVE_RECURSE "${WORK}" "${PREFIX}")
consumer_configure("${SOURCE_DIR}" "${WORK}" RESULT rc OUTPUT out
  -DMQTT_PRESENCE_BUILD_TESTS=OFF -DMQTT_PRESENCE_BUILD_EXAMPLES=OFF -DMQTT_PRESENCE_BUILD_BENCH=OFF)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring ${SOURCE_DIR} failed (${rc}):\n${out}")
endif()
set(install_args --install "${WORK}" --prefix "${PREFIX}")
if(BUILD_TYPE)
  list(APPEND install_args --config "${BUILD_TYPE}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" ${install_args} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc}):\n${out}")
endif()

file(GLOB_RECURSE installed RELATIVE "${PREFIX}/include" "${PREFIX}/include/*")
list(SORT installed)
list(SORT HEADERS)
if(NOT installed STREQUAL HEADERS)
  set(extra ${installed})
  list(REMOVE_ITEM extra ${HEADERS})
  set(missing ${HEADERS})
  list(REMOVE_ITEM missing ${installed})
  message(FATAL_ERROR "${PREFIX}/include is not the FILE_SETs' headers: missing [${missing}], extra [${extra}]")
endif()
list(LENGTH installed count)
message(STATUS "installed into ${PREFIX}: ${count} headers, the CMake package and the pkg-config files")
