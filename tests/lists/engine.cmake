turbolm_test(test_engine LABEL unit SOURCES unit/engine/test_stop_strings.cpp unit/engine/test_beam_search.cpp
    DEPS turbolm_engine)
