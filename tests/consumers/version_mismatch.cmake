# find_package(mqtt_presence <version> CONFIG REQUIRED) against the installed PREFIX: every
# REJECTED version must fail to configure with CMake's message naming the requested version and
# the installed package's, and every ACCEPTED version must configure (the same project, so the
# failures are the version's).
# cmake -D CASE=<settings file> -P version_mismatch.cmake, the file setting (tests/consumers.cmake):
#   PROJECT WORK PREFIX PACKAGE_DIR VERSION REJECTED ACCEPTED and this build's settings
cmake_minimum_required(VERSION 3.23)
include("${CASE}")
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

file(REMOVE_RECURSE "${WORK}")
set(config "${PREFIX}/${PACKAGE_DIR}/mqtt_presenceConfig.cmake")
set(failures "")
foreach(requested IN LISTS REJECTED ACCEPTED)
  consumer_configure("${PROJECT}" "${WORK}/${requested}" RESULT rc OUTPUT out
    "-DREQUESTED_VERSION=${requested}" "-DCMAKE_PREFIX_PATH=${PREFIX}")
  # CMake wraps its messages: compare with runs of white space as one space.
  string(REGEX REPLACE "[ \t\r\n]+" " " flat "${out}")
  if(requested IN_LIST REJECTED)
    set(wanted
      "compatible with requested version \"${requested}\""
      "${config}, version: ${VERSION}")
    if(rc EQUAL 0)
      string(APPEND failures "\n${requested}: accepted, expected a refusal:\n${out}")
      continue()
    endif()
    foreach(text IN LISTS wanted)
      string(FIND "${flat}" "${text}" at)
      if(at EQUAL -1)
        string(APPEND failures "\n${requested}: refused, but the message lacks '${text}':\n${out}")
      endif()
    endforeach()
    message(STATUS "${requested}: refused, the message names both versions")
  else()
    string(FIND "${flat}" "found mqtt_presence ${VERSION} for ${requested}" at)
    if(NOT rc EQUAL 0 OR at EQUAL -1)
      string(APPEND failures "\n${requested}: expected to be accepted (exit ${rc}):\n${out}")
      continue()
    endif()
    message(STATUS "${requested}: accepted")
  endif()
endforeach()
# A component the package does not have is refused by name; the installed ones are found.
consumer_configure("${PROJECT}" "${WORK}/component-nosuch" RESULT rc OUTPUT out
  "-DREQUESTED_VERSION=${VERSION}" "-DREQUESTED_COMPONENTS=nosuch" "-DCMAKE_PREFIX_PATH=${PREFIX}")
string(REGEX REPLACE "[ \t\r\n]+" " " flat "${out}")
string(FIND "${flat}" "component(s) not installed: nosuch" at)
if(rc EQUAL 0 OR at EQUAL -1)
  string(APPEND failures "\nCOMPONENTS nosuch: expected a refusal naming it (exit ${rc}):\n${out}")
else()
  message(STATUS "COMPONENTS nosuch: refused")
endif()
consumer_configure("${PROJECT}" "${WORK}/component-json" RESULT rc OUTPUT out
  "-DREQUESTED_VERSION=${VERSION}" "-DREQUESTED_COMPONENTS=json" "-DCMAKE_PREFIX_PATH=${PREFIX}")
if(NOT rc EQUAL 0)
  string(APPEND failures "\nCOMPONENTS json: expected to be found (exit ${rc}):\n${out}")
endif()

if(failures)
  message(FATAL_ERROR "mqtt_presence ${VERSION} installed in ${PREFIX}:${failures}")
endif()
