turbolm_test(test_core LABEL unit
    SOURCES unit/core/test_tensor.cpp unit/core/test_half.cpp unit/core/test_status.cpp
    DEPS turbolm_core)
