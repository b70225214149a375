# End-to-end tests of `turbolm serve` from outside, in JavaScript (tests/server/js): the official
# openai client, curl, raw sockets, 1,000 concurrent streams, Prometheus and headless Chromium,
# against the binary on the CPU demo model. They need node; without the npm packages
# (scripts/install-deps.sh --test) or an outside program a test reports skipped, not passed.
find_program(TURBOLM_NODE node)
if(TURBOLM_NODE)
    set(server_js_dir ${PROJECT_SOURCE_DIR}/tests/server/js)
    foreach(name openai_client sse_curl kserve bad_input load prometheus web_page)
        add_test(NAME server_js_${name} COMMAND ${server_js_dir}/run_test.sh ${server_js_dir}/${name}.test.mjs)
        set_tests_properties(server_js_${name} PROPERTIES
            LABELS server
            SKIP_RETURN_CODE 77
            TIMEOUT 120
            ENVIRONMENT "TURBOLM_BINARY=$<TARGET_FILE:turbolm>;TURBOLM_SCREENSHOT_DIR=${PROJECT_BINARY_DIR};TURBOLM_NODE=${TURBOLM_NODE}")
    endforeach()
    # A minute of 1,000 streams (TURBOLM_LOAD_SECONDS) measures the server alone, not beside other tests.
    set_tests_properties(server_js_load PROPERTIES TIMEOUT 180 RUN_SERIAL TRUE)
    # The page's stop test presses stop at the first token of a 470-token answer (about a second on
    # two cores) and expects the server to count an abort: beside other tests a starved server could
    # still finish the answer first.
    set_tests_properties(server_js_web_page PROPERTIES RUN_SERIAL TRUE)
endif()
