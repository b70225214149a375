# Quantized checkpoints: the packed layouts (AWQ, GPTQ, compressed-tensors) against packers written
# from their descriptions, quantization_config parsing, and whole directories: checkpoints packed as the Hub's
# quantizers do, written and read back bit for bit, broken ones, and the placement of quantized
# projections (the GPU side is in gpu/runtime/test_gpu_quantized_placement.cpp).
turbolm_test(test_quant_layouts LABEL unit
    SOURCES unit/quant/test_int4_layouts.cpp unit/quant/test_quantization_config.cpp
            unit/quant/int4_hand_packers.cpp
    DEPS turbolm_quant)
turbolm_test(test_quantized_checkpoints LABEL models
    SOURCES models/test_quantized_checkpoints.cpp models/test_quantized_checkpoint_errors.cpp
            models/test_hub_quantized_layouts.cpp models/quantized_checkpoint_fixture.cpp
            models/test_quantized_placement.cpp unit/quant/int4_hand_packers.cpp
    DEPS turbolm_models)
