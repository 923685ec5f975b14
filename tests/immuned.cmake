# Tests of immuned (tsb/daemon, cmd/immuned, immunectl tsb). Included from
# tests/CMakeLists.txt; paths are absolute.
set(IMMUNED_TESTS_DIR ${PROJECT_SOURCE_DIR}/tests)

# Test agent modules: one good, one exporting a wrong ABI version.
add_library(immuned_test_agent MODULE ${IMMUNED_TESTS_DIR}/immuned_test_agent.cc)
target_link_libraries(immuned_test_agent PRIVATE immune_options)
target_include_directories(immuned_test_agent PRIVATE
  ${PROJECT_SOURCE_DIR}/tsb/daemon/include ${PROJECT_SOURCE_DIR}/tsb/include ${PROJECT_SOURCE_DIR}/core/include)
set_target_properties(immuned_test_agent PROPERTIES PREFIX "" CXX_VISIBILITY_PRESET hidden)
add_library(immuned_test_agent_bad_abi MODULE ${IMMUNED_TESTS_DIR}/immuned_test_agent.cc)
target_link_libraries(immuned_test_agent_bad_abi PRIVATE immune_options)
target_include_directories(immuned_test_agent_bad_abi PRIVATE
  ${PROJECT_SOURCE_DIR}/tsb/daemon/include ${PROJECT_SOURCE_DIR}/tsb/include ${PROJECT_SOURCE_DIR}/core/include)
target_compile_definitions(immuned_test_agent_bad_abi PRIVATE IMMUNE_TEST_AGENT_BAD_ABI)
set_target_properties(immuned_test_agent_bad_abi PROPERTIES PREFIX "" CXX_VISIBILITY_PRESET hidden)

immune_test(immuned_unit_test
  SOURCES ${IMMUNED_TESTS_DIR}/immuned_unit_test.cc
  DEPS immune_tsbd immune_tsb_log immune_tpm)
target_compile_definitions(immuned_unit_test PRIVATE
  IMMUNED_TEST_AGENT="$<TARGET_FILE:immuned_test_agent>"
  IMMUNED_TEST_AGENT_BAD_ABI="$<TARGET_FILE:immuned_test_agent_bad_abi>")
add_dependencies(immuned_unit_test immuned_test_agent immuned_test_agent_bad_abi)

immune_test(immuned_test
  SOURCES ${IMMUNED_TESTS_DIR}/immuned_test.cc ${IMMUNED_TESTS_DIR}/immuned_curve_test.cc
    ${IMMUNED_TESTS_DIR}/immuned_test_util.cc
  DEPS immune_tsbd immune_tsb_log immune_tpm immune_tpm_testing
  LABELS integration
  TIMEOUT 600)
target_compile_definitions(immuned_test PRIVATE
  IMMUNED_BIN="$<TARGET_FILE:immuned>"
  IMMUNECTL_TSB_BIN="$<TARGET_FILE:immunectl>"
  IMMUNED_TEST_AGENT="$<TARGET_FILE:immuned_test_agent>")
add_dependencies(immuned_test immuned immunectl immune-tsb-control immuned_test_agent)

# Active immunity end to end: immuned with the exec gate and policy, real
# runc containers on overlayfs registered by immune-oci-hook, in a private
# mount namespace (needs root, runc, busybox-static; skipped otherwise).
immune_test(immuned_gate_test
  SOURCES ${IMMUNED_TESTS_DIR}/immuned_gate_test.cc ${IMMUNED_TESTS_DIR}/immuned_test_util.cc
  DEPS immune_tsbd immune_runc_harness immune_core
  LABELS integration
  TIMEOUT 300)
target_compile_definitions(immuned_gate_test PRIVATE
  IMMUNED_BIN="$<TARGET_FILE:immuned>"
  IMMUNECTL_BIN="$<TARGET_FILE:immunectl>"
  IMMUNE_OCI_HOOK="$<TARGET_FILE:immune-oci-hook>"
  PIMS_SELF_PATCH="$<TARGET_FILE:pims_self_patch_static>")
add_dependencies(immuned_gate_test immuned immunectl immune-oci-hook pims_self_patch_static)

immune_test(immuned_policy_engine_test
  SOURCES ${IMMUNED_TESTS_DIR}/immuned_policy_engine_test.cc ${PROJECT_SOURCE_DIR}/chain/test_util.cc
  DEPS immune_tsbd immune_chain_policy)
target_include_directories(immuned_policy_engine_test PRIVATE ${PROJECT_SOURCE_DIR}/chain)
