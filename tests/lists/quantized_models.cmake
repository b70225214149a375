# Quantized modes of whole models on the demo model's held-out text: load-time quantization and the
# calibrated methods (AWQ, SmoothQuant) against the unquantized model, and `turbolm quantize`
# directories reloading bit-identically.
turbolm_test(test_quantized_models LABEL models
    SOURCES models/demo_divergence.cpp models/test_weight_quantization.cpp models/test_calibrated_quantization.cpp
            models/test_quantize_command.cpp
    DEPS turbolm_models turbolm_engine)
# The command-line tests drive the tool.
add_dependencies(test_quantized_models turbolm)
