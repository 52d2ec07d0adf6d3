# Configures, builds and runs one downstream project in a fresh build directory; fails unless the
# program it builds (consumer) prints exactly the expected lines and exits with 0.
# cmake -D CASE=<settings file> -P run_project.cmake, the file setting (tests/consumers.cmake):
#   PROJECT     the downstream project's source directory
#   WORK        its build directory (removed first)
#   DEFINES     more -D options for its configure step
#   EXPECT      the lines the program prints
#   GIT_HEAD    ON: also -D MQTT_PRESENCE_GIT_REPOSITORY/_GIT_TAG = SOURCE_DIR and its HEAD commit
#   EXPECT_PACKAGE_FROM_PREFIX  ON: find_package must have found the package in PREFIX
#   SKIP        set: print SKIPPED with it and do nothing
#   SOURCE_DIR GENERATOR GENERATOR_PLATFORM GENERATOR_TOOLSET MAKE_PROGRAM COMPILER BUILD_TYPE
#   CXX_FLAGS PREFIX PACKAGE_DIR  this build's settings
cmake_minimum_required(VERSION 3.23)
include("${CASE}")
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

if(DEFINED SKIP)
  message("SKIPPED: ${SKIP}")
  return()
endif()

if(GIT_HEAD)
  find_program(GIT_EXECUTABLE git)
  if(GIT_EXECUTABLE)
    execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" rev-parse --verify "HEAD^{commit}"
      RESULT_VARIABLE rc OUTPUT_VARIABLE head ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  endif()
  if(NOT GIT_EXECUTABLE OR NOT rc EQUAL 0)
    message("SKIPPED: ${SOURCE_DIR} is not a Git work tree with a commit (or git is missing)")
    return()
  endif()
  message(STATUS "fetching commit ${head} of ${SOURCE_DIR}")
  list(APPEND DEFINES "-DMQTT_PRESENCE_GIT_REPOSITORY=${SOURCE_DIR}" "-DMQTT_PRESENCE_GIT_TAG=${head}")
endif()

file(REMOVE_RECURSE "${WORK}")
consumer_configure("${PROJECT}" "${WORK}" RESULT rc OUTPUT out ${DEFINES})
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring ${PROJECT} failed (${rc}):\n${out}")
endif()

if(EXPECT_PACKAGE_FROM_PREFIX)
  # The package this build installed, not some other copy on the machine.
  file(STRINGS "${WORK}/CMakeCache.txt" found REGEX "^mqtt_presence_DIR:")
  string(REGEX REPLACE "^[^=]*=" "" found "${found}")
  file(REAL_PATH "${found}" found)
  file(REAL_PATH "${PREFIX}/${PACKAGE_DIR}" expected)
  if(NOT found STREQUAL expected)
    message(FATAL_ERROR "find_package used the package in ${found}, expected ${expected}")
  endif()
endif()

set(build_args --build "${WORK}")
if(BUILD_TYPE)
  list(APPEND build_args --config "${BUILD_TYPE}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" ${build_args} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building ${PROJECT} failed (${rc}):\n${out}")
endif()

set(program "")
foreach(candidate "${WORK}/${BUILD_TYPE}/consumer" "${WORK}/consumer")
  foreach(suffix "" ".exe")
    if(NOT program AND EXISTS "${candidate}${suffix}" AND NOT IS_DIRECTORY "${candidate}${suffix}")
      set(program "${candidate}${suffix}")
    endif()
  endforeach()
endforeach()
if(NOT program)
  message(FATAL_ERROR "building ${PROJECT} made no program named consumer in ${WORK}")
endif()
consumer_run("${program}" "${WORK}" "${EXPECT}")
