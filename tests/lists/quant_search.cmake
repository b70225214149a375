# The calibrated quantization searches (AWQ scaling and clipping, SmoothQuant) on tensors.
turbolm_test(test_scale_searches LABEL unit SOURCES unit/quant/test_scale_searches.cpp DEPS turbolm_quant)
