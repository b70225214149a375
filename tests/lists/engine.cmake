turbolm_test(test_engine LABEL unit SOURCES unit/engine/test_stop_strings.cpp DEPS turbolm_engine)
