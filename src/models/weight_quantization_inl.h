// The template of weight_quantization.h: which projections are quantized.
#pragma once

#include "models/layers.h"

namespace turbolm {

template <typename Fn>
void for_each_quantizable_linear(ModelWeights& w, Fn&& fn) {
    for (auto& lw : w.layers) {
        for (Linear* l : {&lw.attn.qkv, &lw.attn.q, &lw.attn.k, &lw.attn.v, &lw.attn.o, &lw.gated.gate, &lw.gated.up,
                          &lw.gated.gate_up, &lw.gated.down, &lw.plain.up, &lw.plain.down})
            if (l->w.defined()) fn(*l);
    }
}

}  // namespace turbolm
