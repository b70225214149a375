turbolm_test(test_models LABEL models
    SOURCES models/test_hf_golden.cpp models/test_bad_checkpoints.cpp models/test_demo_text.cpp
            models/test_paged_forward.cpp models/test_engine_core.cpp models/test_engine_api.cpp
            models/test_step_inputs.cpp
    DEPS turbolm_models turbolm_engine)
# The bad-checkpoint tests also drive the command-line tool.
add_dependencies(test_models turbolm)
