# The 8-bit KV cache: CPU codes, qkv_to_cache into them and attention over them (ops), and the
# demo model and the engine with an int8 / FP8 cache (models).
turbolm_test(test_kv_quant LABEL unit SOURCES unit/ops/test_kv_quant.cpp DEPS turbolm_ops)
turbolm_test(test_kv_quant_models LABEL models SOURCES models/test_kv_cache_dtype.cpp models/demo_divergence.cpp DEPS turbolm_models turbolm_engine)
