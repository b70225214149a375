# GPU tests of the CUDA backend (memory, GEMMs, whole models) against the CPU reference. Each
# skips without a GPU. The kernel families have their own lists (gpu_*.cmake).
if(TURBOLM_WITH_CUDA)
    file(GLOB gpu_runtime_tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/gpu/runtime/*.cpp)
    if(gpu_runtime_tests)
        turbolm_test(test_gpu LABEL gpu SOURCES ${gpu_runtime_tests} DEPS turbolm_models turbolm_engine)
    endif()
endif()
