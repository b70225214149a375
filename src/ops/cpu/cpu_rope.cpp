// Rotary position embedding, rotate-half layout (GPT-NeoX / HF Llama): dimension i pairs with
// i + rot_dim/2. Angles are computed in double so that long positions keep full f32 accuracy.
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "ops/cpu/cpu_kernels.h"

namespace turbolm::cpu {

void rope_neox(float* x, int64_t ldx, int64_t tokens, int64_t heads, int64_t head_dim, int64_t rot_dim,
               const int32_t* pos, const float* inv_freq, float attention_scale) {
    const int64_t half = rot_dim / 2;
    parallel_for(tokens, 8, [&](int64_t t0, int64_t t1) {
        std::vector<float> cos_v(half), sin_v(half);
        for (int64_t t = t0; t < t1; ++t) {
            for (int64_t i = 0; i < half; ++i) {
                double angle = double(pos[t]) * double(inv_freq[i]);
                cos_v[i] = float(std::cos(angle)) * attention_scale;
                sin_v[i] = float(std::sin(angle)) * attention_scale;
            }
            for (int64_t h = 0; h < heads; ++h) {
                float* v = x + t * ldx + h * head_dim;
                for (int64_t i = 0; i < half; ++i) {
                    float a = v[i], b = v[i + half];
                    v[i] = a * cos_v[i] - b * sin_v[i];
                    v[i + half] = b * cos_v[i] + a * sin_v[i];
                }
            }
        }
    });
}

}  // namespace turbolm::cpu
