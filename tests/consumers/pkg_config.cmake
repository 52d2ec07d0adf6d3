# Builds programs the way a Makefile would, with nothing but the compiler and pkg-config, against a
# copy of the installed PREFIX moved elsewhere (the .pc files find the headers relative to
# themselves), runs them and compares what they print.
# cmake -D CASE=<settings file> -P pkg_config.cmake, the file setting (tests/consumers.cmake):
#   PKG_CONFIG  the pkg-config program
#   BUILDS      names; for each: <name>_MODULES (pkg-config modules), <name>_SOURCE (main.cpp),
#               <name>_FLAGS (more compiler flags), <name>_EXPECT (the lines it prints)
#   SKIP        set: print SKIPPED with it and do nothing
#   WORK PREFIX PKG_CONFIG_DIR VERSION COMPILER CXX_FLAGS CONFIG_FLAGS  this build's settings
cmake_minimum_required(VERSION 3.23)
include("${CASE}")
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

if(DEFINED SKIP)
  message("SKIPPED: ${SKIP}")
  return()
endif()

# The installed tree, copied to a place its .pc files were never generated for.
file(REMOVE_RECURSE "${WORK}")
set(moved "${WORK}/moved/prefix")
file(MAKE_DIRECTORY "${moved}")
file(COPY "${PREFIX}/" DESTINATION "${moved}")
set(ENV{PKG_CONFIG_PATH} "${moved}/${PKG_CONFIG_DIR}")

function(pkg_config out)
  execute_process(COMMAND "${PKG_CONFIG}" --print-errors ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE text ERROR_VARIABLE err OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config ${ARGN} failed (${rc}): ${err}")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# The core module: this version, the moved include directory, no -std (the user picks C++17 or
# newer; a -std here would override theirs).
pkg_config(version --modversion mqtt_presence)
if(NOT version STREQUAL VERSION)
  message(FATAL_ERROR "pkg-config --modversion mqtt_presence: ${version}, expected ${VERSION}")
endif()
pkg_config(cflags --cflags mqtt_presence)
separate_arguments(cflags UNIX_COMMAND "${cflags}")
set(include_dir "")
foreach(flag IN LISTS cflags)
  if(flag MATCHES "^-std=")
    message(FATAL_ERROR "pkg-config --cflags mqtt_presence gives ${flag}: it would override the user's standard")
  elseif(flag MATCHES "^-I(.+)$")
    file(REAL_PATH "${CMAKE_MATCH_1}" include_dir)
  endif()
endforeach()
file(REAL_PATH "${moved}/include" expected)
if(NOT include_dir STREQUAL expected)
  message(FATAL_ERROR "pkg-config --cflags mqtt_presence: [${cflags}], expected -I to ${expected}")
endif()

separate_arguments(cxx_flags UNIX_COMMAND "${CXX_FLAGS} ${CONFIG_FLAGS}")
foreach(build IN LISTS BUILDS)
  pkg_config(flags --cflags --libs ${${build}_MODULES})
  separate_arguments(flags UNIX_COMMAND "${flags}")
  set(program "${WORK}/${build}")
  execute_process(
    COMMAND "${COMPILER}" ${cxx_flags} -std=c++17 ${${build}_FLAGS} "${${build}_SOURCE}" -o "${program}" ${flags}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${COMPILER} ... ${${build}_SOURCE} with pkg-config ${${build}_MODULES} [${flags}] failed (${rc}):\n${out}")
  endif()
  message(STATUS "pkg-config --cflags --libs ${${build}_MODULES}: ${flags}")
  consumer_run("${program}" "${WORK}" "${${build}_EXPECT}")
endforeach()
