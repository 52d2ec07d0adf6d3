# Helpers of the consumer drivers (run_project, install, version_mismatch, pkg_config), on the
# settings of tests/consumers.cmake: GENERATOR GENERATOR_PLATFORM GENERATOR_TOOLSET MAKE_PROGRAM
# COMPILER BUILD_TYPE CXX_FLAGS.

# consumer_configure(<source> <binary> RESULT <var> OUTPUT <var> [-D...]...): configures <source>
# into <binary> with this build's generator, compiler, build type and flags; <var>s get the exit
# code and the whole output (stdout and stderr).
function(consumer_configure source binary)
  cmake_parse_arguments(ARG "" "RESULT;OUTPUT" "" ${ARGN})
  set(args -S "${source}" -B "${binary}" -G "${GENERATOR}")
  if(GENERATOR_PLATFORM)
    list(APPEND args -A "${GENERATOR_PLATFORM}")
  endif()
  if(GENERATOR_TOOLSET)
    list(APPEND args -T "${GENERATOR_TOOLSET}")
  endif()
  if(MAKE_PROGRAM)
    list(APPEND args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
  endif()
  execute_process(
    COMMAND "${CMAKE_COMMAND}" ${args}
      "-DCMAKE_CXX_COMPILER=${COMPILER}" "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}" "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
      # No package registry: packages come from the paths the test gives (and the system).
      -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
      ${ARG_UNPARSED_ARGUMENTS}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  set(${ARG_RESULT} "${rc}" PARENT_SCOPE)
  set(${ARG_OUTPUT} "${out}" PARENT_SCOPE)
endfunction()

# consumer_run(<program> <directory> <expected lines>): runs <program> in <directory>; fails unless
# it exits with 0 and its standard output is exactly the expected lines.
function(consumer_run program directory expected)
  execute_process(COMMAND "${program}" WORKING_DIRECTORY "${directory}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  list(JOIN expected "\n" expected)
  string(APPEND expected "\n")
  if(NOT rc EQUAL 0 OR NOT out STREQUAL expected)
    message(FATAL_ERROR "${program} exited with ${rc}, printing\n${out}\nexpected\n${expected}\nstderr:\n${err}")
  endif()
  message(STATUS "${program} printed what was expected:\n${out}")
endfunction()
