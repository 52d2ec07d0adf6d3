# The examples run as tests, their output checked (included from tests/CMakeLists.txt).
