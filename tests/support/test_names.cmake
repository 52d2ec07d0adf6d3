# Every Catch test name must survive CTest: catch_discover_tests registers one CTest test per
# name, and a ';' (a CMake list separator) splits the name, so the CTest test runs a name
# that matches no test case and passes having checked nothing.
# -D SOURCES=dir : the test sources directory
file(GLOB sources "${SOURCES}/*.cpp")
set(bad "")
foreach(source ${sources})
  file(READ "${source}" text)
  # Spell the separator out before any list operation can split on it.
  string(REPLACE ";" "<semicolon>" text "${text}")
  string(REGEX MATCHALL "TEST_CASE\\(\"[^\"\n]*<semicolon>[^\"\n]*\"" hits "${text}")
  foreach(hit ${hits})
    get_filename_component(name "${source}" NAME)
    string(REPLACE "<semicolon>" ";" hit "${hit}")
    string(APPEND bad "\n  ${name}: ${hit}")
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "test names with ';' (CTest would split them and run nothing):${bad}")
endif()
list(LENGTH sources count)
message(STATUS "${count} test sources: every test name is safe for CTest")
