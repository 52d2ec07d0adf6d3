# Every header under include/ is in one of the library's FILE_SETs, hence installed and compiled
# on its own by headers.self_contained.<part>.
# cmake -D CASE=<settings file> -P in_file_sets.cmake, the file setting (tests/consumers.cmake):
#   INCLUDE_DIR, HEADERS (the FILE_SETs' headers, as in #include <...>), MISSING_PARTS
cmake_minimum_required(VERSION 3.23)
include("${CASE}")
if(MISSING_PARTS)
  message("SKIPPED: optional parts not in this build (${MISSING_PARTS}): their headers are in no FILE_SET here")
  return()
endif()
file(GLOB_RECURSE present RELATIVE "${INCLUDE_DIR}" "${INCLUDE_DIR}/*")
list(REMOVE_ITEM present ${HEADERS})
if(present)
  list(JOIN present "\n  " present)
  message(FATAL_ERROR "in ${INCLUDE_DIR} but in no FILE_SET (so neither installed nor checked):\n  ${present}")
endif()
list(LENGTH HEADERS count)
message(STATUS "all ${count} headers under ${INCLUDE_DIR} are in a FILE_SET")
