turbolm_test(test_io LABEL unit
    SOURCES unit/io/test_safetensors.cpp unit/io/test_hf_config.cpp
    DEPS turbolm_io)
turbolm_test(test_sampling LABEL unit SOURCES unit/sampling/test_sampler.cpp DEPS turbolm_sampling)
