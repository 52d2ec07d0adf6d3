# Downstream consumers: tiny projects (tests/consumers/) that use mqtt_presence the way users do,
# each configured, built and run in its own fresh directory under ${_mpc_bin}; and the check that
# every public header compiles on its own.
#
#   consumer.install              (fixture) cmake --install of this source tree into ${_mpc_bin}/prefix
#   consumer.add_subdirectory     add_subdirectory(<this source tree>)
#   consumer.fetchcontent         FetchContent_Declare(mqtt_presence SOURCE_DIR <this source tree>)
#   consumer.fetchcontent_git     FetchContent_Declare(... GIT_REPOSITORY <this repository> GIT_TAG <HEAD>)
#   consumer.find_package         find_package(mqtt_presence 0.1 CONFIG REQUIRED) from the prefix
#   consumer.find_package_parts   the same, linking mqtt_presence::simdjson and mqtt_presence::redis
#   consumer.version_mismatch     versions the package must refuse (and accept), with the message
#   consumer.pkg_config           c++ $(pkg-config ... mqtt_presence-json), the prefix moved elsewhere
#   consumer.pkg_config_core      the same with the core's module alone
#   consumer.pkg_config_parts     the same with mqtt_presence-simdjson and mqtt_presence-redis
#   headers.self_contained.<part> a TU with only #include <mqtt_presence/X.hpp>, for every header of
#                                 every target's FILE_SET, with the tests' warnings and -std=c++17
#   headers.in_file_sets          every header under include/ is in a FILE_SET (so installed, checked)
#
# The downstream builds use this build's compiler, build type and CMAKE_CXX_FLAGS, plus the warnings
# of mqtt_presence_dev (errors). Each test has its own directory, so they run in parallel with the
# rest; the ones that need the installed prefix require the one install fixture.

set(_mpc_src "${CMAKE_CURRENT_SOURCE_DIR}/consumers")
set(_mpc_bin "${CMAKE_CURRENT_BINARY_DIR}/consumers")
set(_mpc_prefix "${_mpc_bin}/prefix")

# --- the public headers, read from the FILE_SETs of the library's targets ------------------------
# Every INTERFACE target of the top-level directory that has a header set: a part added later, or
# a header added to a list, is covered without a change here.
get_directory_property(_mpc_targets DIRECTORY "${PROJECT_SOURCE_DIR}" BUILDSYSTEM_TARGETS)
set(_mpc_parts "")
set(_mpc_headers "") # paths as written in #include <...>, all parts
foreach(_target IN LISTS _mpc_targets)
  get_target_property(_sets ${_target} INTERFACE_HEADER_SETS)
  if(NOT _sets)
    continue()
  endif()
  if(_target STREQUAL "mqtt_presence")
    set(_part core)
  else()
    string(REGEX REPLACE "^mqtt_presence_" "" _part "${_target}")
  endif()
  list(APPEND _mpc_parts ${_part})
  set(_mpc_${_part}_target ${_target})
  set(_mpc_${_part}_headers "")
  foreach(_set IN LISTS _sets)
    if(_set STREQUAL "HEADERS")
      get_target_property(_files ${_target} HEADER_SET)
      get_target_property(_dirs ${_target} HEADER_DIRS)
    else()
      get_target_property(_files ${_target} HEADER_SET_${_set})
      get_target_property(_dirs ${_target} HEADER_DIRS_${_set})
    endif()
    foreach(_file IN LISTS _files)
      get_filename_component(_file "${_file}" ABSOLUTE BASE_DIR "${PROJECT_SOURCE_DIR}")
      set(_include "")
      foreach(_dir IN LISTS _dirs)
        get_filename_component(_dir "${_dir}" ABSOLUTE BASE_DIR "${PROJECT_SOURCE_DIR}")
        file(RELATIVE_PATH _relative "${_dir}" "${_file}")
        if(NOT _relative MATCHES "^\\.\\./")
          set(_include "${_relative}")
          break()
        endif()
      endforeach()
      if(NOT _include)
        message(FATAL_ERROR "${_file} of ${_target} lies under none of its BASE_DIRS (${_dirs})")
      endif()
      list(APPEND _mpc_${_part}_headers "${_include}")
      list(APPEND _mpc_headers "${_include}")
    endforeach()
  endforeach()
endforeach()
if(NOT _mpc_core_headers)
  message(FATAL_ERROR "tests/consumers.cmake found no header set on the target mqtt_presence")
endif()

# --- every public header compiles on its own ----------------------------------------------------
# One object library per part, one TU per header: the header, included twice (its include guard),
# and nothing else, with the part's usage requirements, the tests' warnings and strict C++17.
# Built with the tests (in parallel with the rest of the build: about a second of compiler time per
# header, most of it nlohmann_json's), and again by headers.self_contained.<part>, so that ctest
# alone also sees a header changed since: one that is not self-contained fails its part.
foreach(_part IN LISTS _mpc_parts)
  set(_sources "")
  foreach(_include IN LISTS _mpc_${_part}_headers)
    set(_source "${_mpc_bin}/headers/${_part}/${_include}.cpp")
    file(CONFIGURE OUTPUT "${_source}"
      CONTENT "#include <${_include}>\n#include <${_include}> // twice: the include guard\n")
    list(APPEND _sources "${_source}")
  endforeach()
  add_library(mqtt_presence_headers_${_part} OBJECT ${_sources})
  target_link_libraries(mqtt_presence_headers_${_part} PRIVATE ${_mpc_${_part}_target} mqtt_presence_dev)
  set_target_properties(mqtt_presence_headers_${_part} PROPERTIES
    CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
  add_test(NAME headers.self_contained.${_part}
    COMMAND "${CMAKE_COMMAND}" --build "${PROJECT_BINARY_DIR}" --config "$<CONFIG>"
      --target mqtt_presence_headers_${_part})
  set_tests_properties(headers.self_contained.${_part} PROPERTIES RESOURCE_LOCK build_tree)
endforeach()

# Every header under include/ belongs to a FILE_SET: one that does not is neither installed nor
# checked above. Only meaningful when every optional part was found (a missing part's headers are
# in no set); otherwise skipped, saying which part is missing.
set(_mpc_missing "")
get_cmake_property(_variables VARIABLES)
foreach(_variable IN LISTS _variables)
  if(_variable MATCHES "^MQTT_PRESENCE_HAVE_(.+)$" AND NOT ${_variable})
    list(APPEND _mpc_missing ${CMAKE_MATCH_1})
  endif()
endforeach()
file(CONFIGURE OUTPUT "${_mpc_bin}/in_file_sets.cmake" CONTENT
"set(INCLUDE_DIR \"${PROJECT_SOURCE_DIR}/include\")
set(HEADERS \"${_mpc_headers}\")
set(MISSING_PARTS \"${_mpc_missing}\")
")
add_test(NAME headers.in_file_sets
  COMMAND "${CMAKE_COMMAND}" -D "CASE=${_mpc_bin}/in_file_sets.cmake" -P "${_mpc_src}/in_file_sets.cmake")
set_tests_properties(headers.in_file_sets PROPERTIES SKIP_REGULAR_EXPRESSION "SKIPPED")

# --- settings every downstream build shares ------------------------------------------------------
get_target_property(_mpc_warnings mqtt_presence_dev INTERFACE_COMPILE_OPTIONS)
list(JOIN _mpc_warnings " " _mpc_warnings)
string(STRIP "${CMAKE_CXX_FLAGS} ${_mpc_warnings}" _mpc_cxx_flags)
# The flags CMake adds for the build type, for the builds that call the compiler directly.
set(_mpc_config_flags "")
set(_mpc_configs Debug Release RelWithDebInfo MinSizeRel ${CMAKE_CONFIGURATION_TYPES} ${CMAKE_BUILD_TYPE})
list(TRANSFORM _mpc_configs TOUPPER)
list(REMOVE_DUPLICATES _mpc_configs)
foreach(_config IN LISTS _mpc_configs)
  string(APPEND _mpc_config_flags "$<$<CONFIG:${_config}>:${CMAKE_CXX_FLAGS_${_config}}>")
endforeach()
# Values written into set("...") below: their backslashes and quotes escaped.
foreach(_variable _mpc_cxx_flags _mpc_config_flags)
  string(REPLACE "\\" "\\\\" ${_variable} "${${_variable}}")
  string(REPLACE "\"" "\\\"" ${_variable} "${${_variable}}")
endforeach()
set(_mpc_common
"set(SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
set(VERSION \"${PROJECT_VERSION}\")
set(GENERATOR \"${CMAKE_GENERATOR}\")
set(GENERATOR_PLATFORM \"${CMAKE_GENERATOR_PLATFORM}\")
set(GENERATOR_TOOLSET \"${CMAKE_GENERATOR_TOOLSET}\")
set(MAKE_PROGRAM \"${CMAKE_MAKE_PROGRAM}\")
set(COMPILER \"${CMAKE_CXX_COMPILER}\")
set(BUILD_TYPE \"$<CONFIG>\")
set(CXX_FLAGS \"${_mpc_cxx_flags}\")
set(CONFIG_FLAGS \"${_mpc_config_flags}\")
set(PREFIX \"${_mpc_prefix}\")
set(PKG_CONFIG_DIR \"${CMAKE_INSTALL_DATADIR}/pkgconfig\")
set(PACKAGE_DIR \"${CMAKE_INSTALL_DATADIR}/cmake/mqtt_presence\")
")

# _mpc_add_test(<name> <driver> <settings>...): the test consumer.<name>, running
# tests/consumers/<driver>.cmake on the shared settings plus <settings> (lines of set(...)), in
# ${_mpc_bin}/<name>. Settings go through a file: lists and quotes survive it unchanged.
function(_mpc_add_test name driver)
  set(_settings "")
  math(EXPR _last "${ARGC} - 1")
  foreach(_i RANGE 2 ${_last}) # ARGV<i>, not ARGN: an argument's own ';' stays in it
    string(APPEND _settings "${ARGV${_i}}\n")
  endforeach()
  set(_case "${_mpc_bin}/${name}-$<CONFIG>.cmake")
  file(GENERATE OUTPUT "${_case}" CONTENT
    "${_mpc_common}set(WORK \"${_mpc_bin}/${name}\")\n${_settings}")
  add_test(NAME consumer.${name}
    COMMAND "${CMAKE_COMMAND}" -D "CASE=${_case}" -P "${_mpc_src}/${driver}.cmake")
  set_tests_properties(consumer.${name} PROPERTIES SKIP_REGULAR_EXPRESSION "SKIPPED")
endfunction()

# What the programs print: tests/consumers/main.cpp, and tests/consumers/find_package_parts/main.cpp
# and tests/consumers/pkg_config/main.cpp; the values are those of the line they parse.
set(_mpc_expect_json "mqtt_presence ${PROJECT_VERSION}"
  "GID_consumer@@@dev1 online since 1764000000000 on 2b9b1281046046faafe5e0b458e4a1b2 from 192.0.2.7:13222")
set(_mpc_expect_core "mqtt_presence ${PROJECT_VERSION}: GID_consumer@@@dev1 online")

# --- from the source tree ------------------------------------------------------------------------
_mpc_add_test(add_subdirectory run_project
  "set(PROJECT \"${_mpc_src}/add_subdirectory\")"
  "set(DEFINES \"-DMQTT_PRESENCE_SOURCE_DIR=${PROJECT_SOURCE_DIR}\")"
  "set(EXPECT \"${_mpc_expect_json}\")")
_mpc_add_test(fetchcontent run_project
  "set(PROJECT \"${_mpc_src}/fetchcontent\")"
  "set(DEFINES \"-DMQTT_PRESENCE_SOURCE_DIR=${PROJECT_SOURCE_DIR};-DFETCHCONTENT_FULLY_DISCONNECTED=ON\")"
  "set(EXPECT \"${_mpc_expect_json}\")")
# The committed HEAD, cloned from this repository's path (skipped outside a Git work tree).
_mpc_add_test(fetchcontent_git run_project
  "set(PROJECT \"${_mpc_src}/fetchcontent_git\")"
  "set(GIT_HEAD ON)"
  "set(EXPECT \"${_mpc_expect_json}\")")

# --- from the installed prefix -------------------------------------------------------------------
_mpc_add_test(install install
  "set(HEADERS \"${_mpc_headers}\")")
set_tests_properties(consumer.install PROPERTIES FIXTURES_SETUP mqtt_presence_prefix)

_mpc_add_test(find_package run_project
  "set(PROJECT \"${_mpc_src}/find_package\")"
  "set(DEFINES \"-DCMAKE_PREFIX_PATH=${_mpc_prefix}\")"
  "set(EXPECT_PACKAGE_FROM_PREFIX ON)"
  "set(EXPECT \"${_mpc_expect_json}\")")
set_tests_properties(consumer.find_package PROPERTIES FIXTURES_REQUIRED mqtt_presence_prefix)

# The optional parts this build has are the ones the prefix has.
set(_mpc_parts_defines "-DCMAKE_PREFIX_PATH=${_mpc_prefix}")
set(_mpc_parts_modules "mqtt_presence-json")
set(_mpc_parts_flags "")
set(_mpc_parts_expect "")
set(_mpc_parts_missing "")
if(TARGET mqtt_presence::simdjson)
  list(APPEND _mpc_parts_defines "-DCONSUMER_SIMDJSON=ON")
  list(APPEND _mpc_parts_modules "mqtt_presence-simdjson")
  list(APPEND _mpc_parts_flags "-DCONSUMER_SIMDJSON")
  list(APPEND _mpc_parts_expect "simdjson: the same event")
else()
  list(APPEND _mpc_parts_missing "mqtt_presence::simdjson (simdjson 3 not found)")
endif()
list(APPEND _mpc_parts_expect "GID_consumer@@@dev1 online")
if(TARGET mqtt_presence::redis)
  list(APPEND _mpc_parts_defines "-DCONSUMER_REDIS=ON")
  list(APPEND _mpc_parts_modules "mqtt_presence-redis")
  list(APPEND _mpc_parts_flags "-DCONSUMER_REDIS")
  list(APPEND _mpc_parts_expect "redis: RedisError without a server")
else()
  list(APPEND _mpc_parts_missing "mqtt_presence::redis (hiredis not found)")
endif()
if(_mpc_parts_missing)
  # Not a pass: what was not built is reported as not run.
  list(JOIN _mpc_parts_missing ", " _mpc_parts_missing)
  set(_mpc_parts_skip "set(SKIP \"not in this build: ${_mpc_parts_missing}\")")
else()
  set(_mpc_parts_skip "")
endif()
_mpc_add_test(find_package_parts run_project
  "set(PROJECT \"${_mpc_src}/find_package_parts\")"
  "set(DEFINES \"${_mpc_parts_defines}\")"
  "set(EXPECT \"${_mpc_parts_expect}\")"
  "set(EXPECT_PACKAGE_FROM_PREFIX ON)"
  "${_mpc_parts_skip}")
set_tests_properties(consumer.find_package_parts PROPERTIES FIXTURES_REQUIRED mqtt_presence_prefix)

# SameMinorVersion: the same major and minor, and not older than asked. Derived from the version,
# so they stay right when it changes; 1.0 and 0.0 as well while the version is 0.1.x.
math(EXPR _mpc_next_major "${PROJECT_VERSION_MAJOR} + 1")
math(EXPR _mpc_next_minor "${PROJECT_VERSION_MINOR} + 1")
math(EXPR _mpc_next_patch "${PROJECT_VERSION_PATCH} + 1")
set(_mpc_rejected
  "${_mpc_next_major}.0"
  "${_mpc_next_major}.${PROJECT_VERSION_MINOR}"
  "${PROJECT_VERSION_MAJOR}.${_mpc_next_minor}"
  "${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}.${_mpc_next_patch}")
if(PROJECT_VERSION_MINOR GREATER 0)
  math(EXPR _mpc_prev_minor "${PROJECT_VERSION_MINOR} - 1")
  list(APPEND _mpc_rejected "${PROJECT_VERSION_MAJOR}.${_mpc_prev_minor}")
endif()
if(PROJECT_VERSION_MAJOR GREATER 0)
  math(EXPR _mpc_prev_major "${PROJECT_VERSION_MAJOR} - 1")
  list(APPEND _mpc_rejected "${_mpc_prev_major}.${PROJECT_VERSION_MINOR}")
endif()
list(REMOVE_DUPLICATES _mpc_rejected)
_mpc_add_test(version_mismatch version_mismatch
  "set(PROJECT \"${_mpc_src}/version_mismatch\")"
  "set(REJECTED \"${_mpc_rejected}\")"
  "set(ACCEPTED \"${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR};${PROJECT_VERSION}\")")
set_tests_properties(consumer.version_mismatch PROPERTIES FIXTURES_REQUIRED mqtt_presence_prefix)

# pkg-config: the compiler called directly, as a Makefile would (GCC and Clang command lines).
find_program(MQTT_PRESENCE_PKG_CONFIG NAMES pkg-config pkgconf)
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  set(_mpc_pkg_config_skip "set(SKIP \"the pkg-config tests call the compiler with GCC's options; ${CMAKE_CXX_COMPILER_ID} is not tried\")")
elseif(NOT MQTT_PRESENCE_PKG_CONFIG)
  set(_mpc_pkg_config_skip "set(SKIP \"pkg-config not found (Debian: apt-get install pkg-config)\")")
else()
  set(_mpc_pkg_config_skip "")
endif()
_mpc_add_test(pkg_config pkg_config
  "set(PKG_CONFIG \"${MQTT_PRESENCE_PKG_CONFIG}\")"
  "set(BUILDS json)"
  "set(json_MODULES mqtt_presence-json)"
  "set(json_SOURCE \"${_mpc_src}/main.cpp\")"
  "set(json_EXPECT \"${_mpc_expect_json}\")"
  "${_mpc_pkg_config_skip}")
# The core's module alone: no JSON library, nothing to link.
_mpc_add_test(pkg_config_core pkg_config
  "set(PKG_CONFIG \"${MQTT_PRESENCE_PKG_CONFIG}\")"
  "set(BUILDS core)"
  "set(core_MODULES mqtt_presence)"
  "set(core_SOURCE \"${_mpc_src}/pkg_config/main.cpp\")"
  "set(core_EXPECT \"${_mpc_expect_core}\")"
  "${_mpc_pkg_config_skip}")
set_tests_properties(consumer.pkg_config consumer.pkg_config_core PROPERTIES FIXTURES_REQUIRED mqtt_presence_prefix)
if(NOT _mpc_pkg_config_skip)
  set(_mpc_pkg_config_skip "${_mpc_parts_skip}")
endif()
_mpc_add_test(pkg_config_parts pkg_config
  "set(PKG_CONFIG \"${MQTT_PRESENCE_PKG_CONFIG}\")"
  "set(BUILDS parts)"
  "set(parts_MODULES \"${_mpc_parts_modules}\")"
  "set(parts_SOURCE \"${_mpc_src}/find_package_parts/main.cpp\")"
  "set(parts_FLAGS \"${_mpc_parts_flags}\")"
  "set(parts_EXPECT \"${_mpc_parts_expect}\")"
  "${_mpc_pkg_config_skip}")
set_tests_properties(consumer.pkg_config_parts PROPERTIES FIXTURES_REQUIRED mqtt_presence_prefix)
