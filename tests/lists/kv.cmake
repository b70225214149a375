turbolm_test(test_kv LABEL unit
    SOURCES unit/kv/test_block_manager.cpp unit/kv/test_block_manager_random.cpp
    DEPS turbolm_kv)
