# Compiles prefetch_probe.cpp to assembly at -O2 and -O3 and requires every prefetch the
# storages' prefetch() asks for (six) to be there.
# -D COMPILER=... -D INCLUDE=... -D SOURCE=... -D WORK=... -D INSTRUCTION=prefetcht0|prfm
foreach(level O2 O3)
  set(out "${WORK}/prefetch_probe_${level}.s")
  execute_process(
    COMMAND "${COMPILER}" -std=c++17 -${level} -DNDEBUG -S "-I${INCLUDE}" "${SOURCE}" -o "${out}"
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "compiling ${SOURCE} at -${level} failed: ${err}")
  endif()
  file(STRINGS "${out}" hits REGEX "^[ \t]*${INSTRUCTION}[ \t]")
  list(LENGTH hits count)
  if(count LESS 6)
    message(FATAL_ERROR "-${level}: ${count} ${INSTRUCTION} instructions in the storages' prefetch(), expected 6: the optimiser dropped some")
  endif()
  message(STATUS "-${level}: ${count} ${INSTRUCTION} instructions")
endforeach()
