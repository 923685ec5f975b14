# Small programs the integration tests run (included once, from
# tests/testbin/CMakeLists.txt or, until that is wired, agents/CMakeLists.txt).
include_guard(GLOBAL)

set(_testbin_dir ${CMAKE_CURRENT_LIST_DIR})
set(_testbin_warnings -Wall -Wextra -Werror)

# The exec gate's memfd helper: static, so it runs in any namespace.
add_executable(gate_memfd_exec ${_testbin_dir}/memfd_exec.c)
target_compile_options(gate_memfd_exec PRIVATE ${_testbin_warnings})
target_link_options(gate_memfd_exec PRIVATE -static)

# A shared library and a program that dlopen()s it.
add_library(gate_testlib SHARED ${_testbin_dir}/gate_lib.c)
target_compile_options(gate_testlib PRIVATE ${_testbin_warnings})
add_executable(gate_dlopen ${_testbin_dir}/dlopen_main.c)
target_compile_options(gate_dlopen PRIVATE ${_testbin_warnings})
target_link_libraries(gate_dlopen PRIVATE ${CMAKE_DL_LIBS})

# PIMS: a program that patches its own code in memory, then waits (dynamic:
# its libc mapping is checked too).
add_executable(pims_self_patch ${_testbin_dir}/self_patch.c)
target_compile_options(pims_self_patch PRIVATE ${_testbin_warnings})
# The same, static: it runs inside a busybox container (immuned_gate_test).
add_executable(pims_self_patch_static ${_testbin_dir}/self_patch.c)
target_compile_options(pims_self_patch_static PRIVATE ${_testbin_warnings})
target_link_options(pims_self_patch_static PRIVATE -static)
