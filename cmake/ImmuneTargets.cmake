# Common compile options and helpers for Immune's libraries, tests and tools.

add_library(immune_options INTERFACE)
target_compile_options(immune_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused
  -Woverloaded-virtual -Wimplicit-fallthrough -Wformat=2
  $<$<BOOL:${IMMUNE_WERROR}>:-Werror>)
if(IMMUNE_SANITIZE)
  target_compile_options(immune_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                         -fno-sanitize-recover=undefined)
  target_link_options(immune_options INTERFACE -fsanitize=address,undefined)
endif()
if(IMMUNE_FUZZ)
  target_compile_options(immune_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  target_link_options(immune_options INTERFACE -fsanitize=address,undefined)
endif()

# immune_library(NAME SOURCES... [DEPS ...]): a static library whose public
# headers are in <dir>/include.
function(immune_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE immune_options ${ARG_PRIVATE_DEPS})
endfunction()

# immune_test(NAME SOURCES... DEPS ... [LABELS unit|integration] [TIMEOUT s]):
# a GoogleTest binary; each TEST becomes a ctest case carrying the labels.
function(immune_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT IMMUNE_TESTS)
    return()
  endif()
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} immune_options GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${name} PRIVATE
    IMMUNE_TESTDATA_DIR="${IMMUNE_TESTDATA_DIR}"
    IMMUNE_BINARY_DIR="${CMAKE_BINARY_DIR}"
    IMMUNE_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  gtest_discover_tests(${name}
    DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()
