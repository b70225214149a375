if(TURBOLM_WITH_CUDA)
    turbolm_test(test_gpu_sampling LABEL gpu SOURCES gpu/test_cuda_sampling.cpp gpu/test_cuda_sampling_launch.cpp DEPS turbolm_cuda_sampling turbolm_ops turbolm_sampling)
endif()
