turbolm_test(test_w8a8 LABEL unit SOURCES unit/ops/test_w8a8.cpp DEPS turbolm_ops)
