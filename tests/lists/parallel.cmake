# Tensor parallelism on the CPU: the in-process and socket collectives, every golden model split
# over 2 and 4 ranks against the whole model, and the engine driving a split model's ranks in step.
turbolm_test(test_parallel LABEL models
    SOURCES models/test_tensor_parallel.cpp models/test_tensor_parallel_quantized.cpp
            models/quantized_checkpoint_fixture.cpp unit/parallel/test_socket_communicator.cpp
    DEPS turbolm_models turbolm_engine)
