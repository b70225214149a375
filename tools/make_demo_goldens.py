#!/usr/bin/env python3
"""Reference outputs of the demo model, computed by HF transformers in float64 on the CPU.

Writes golden.safetensors and golden.json in the layout the engine's tests read for the
checkpoints under tests/fixtures. For prompt i:

  ids_i            int32   [len]        prompt ids as the tokenizer encodes them (BOS first)
  logits_i         float32 [len, vocab] logits at every prompt position
  greedy_i         int32   [16]         the next 16 greedy tokens, each by a full forward pass
                                        over the whole sequence (no KV cache)
  greedy_margin_i  float32 [16]         top-1 minus top-2 logit at each greedy step

A small margin means that a different but correct implementation may pick the other token;
tests should compare greedy tokens only where the margin is clear.

  python3 tools/make_demo_goldens.py --model DIR [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

import torch

# Corpus-style prompts from 1 token (BOS alone) to about 60. The last one is from the
# held-out book of Ruth, so the model has not seen it.
PROMPTS = [
    "",
    "And God said",
    "In the beginning God created the heaven and the earth.",
    "The LORD is my shepherd; I shall not want.\nHe maketh me to lie down in green pastures:",
    "And Ruth said, Intreat me not to leave thee, or to return from following after thee: for whither thou "
    "goest, I will go; and where thou lodgest, I will lodge: thy people shall be my people, and thy God my God:",
]
NEW_TOKENS = 16


def greedy_full_recompute(model, ids: list[int], steps: int) -> tuple[list[int], list[float]]:
    """Greedy continuation that reruns the whole sequence at every step, as the reference."""
    seq = list(ids)
    tokens, margins = [], []
    for _ in range(steps):
        logits = model(input_ids=torch.tensor([seq]), use_cache=False).logits[0, -1]
        top = torch.topk(logits, 2)
        token = int(top.indices[0])
        margins.append(float(top.values[0] - top.values[1]))
        tokens.append(token)
        seq.append(token)
    return tokens, margins


def saved_dtype(model_dir: Path) -> str:
    """dtype of the stored weights, read from the first weight file's safetensors header."""
    names = {"BF16": "torch.bfloat16", "F16": "torch.float16", "F32": "torch.float32", "F64": "torch.float64"}
    files = sorted(model_dir.glob("model*.safetensors"))
    if not files:
        return "unknown"
    with files[0].open("rb") as f:
        header_len = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_len))
    dtypes = {v["dtype"] for k, v in header.items() if k != "__metadata__"}
    return ",".join(sorted(names.get(d, d) for d in dtypes))


def encode_prompt(tokenizer, text: str, limit: int) -> list[int]:
    ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    if not ids and not text:
        # The BOS-only prompt: some tokenizer versions return nothing at all for "".
        print("note: the tokenizer encodes the empty prompt to no ids; using [BOS]")
        ids = [tokenizer.bos_token_id]
    if not ids or ids[0] != tokenizer.bos_token_id:
        raise RuntimeError(f"prompt {text[:30]!r} does not start with BOS: {ids[:4]}")
    if len(ids) > limit:
        # Only a small test model gets here: keep prompt + continuation inside its context.
        print(f"warning: prompt of {len(ids)} tokens cut to {limit} to fit the context")
        ids = ids[:limit]
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="HF model folder")
    parser.add_argument("--out", type=Path, default=None, help="where to write the goldens (default: --model)")
    args = parser.parse_args()
    out_dir = args.out or args.model
    out_dir.mkdir(parents=True, exist_ok=True)

    import transformers
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_grad_enabled(False)
    tokenizer = AutoTokenizer.from_pretrained(str(args.model))
    model = AutoModelForCausalLM.from_pretrained(str(args.model), dtype=torch.float64, attn_implementation="eager")
    model.to("cpu").eval()
    limit = model.config.max_position_embeddings - NEW_TOKENS

    tensors: dict[str, torch.Tensor] = {}
    prompts = []
    for i, text in enumerate(PROMPTS):
        ids = encode_prompt(tokenizer, text, limit)
        logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]
        tokens, margins = greedy_full_recompute(model, ids, NEW_TOKENS)
        tensors[f"ids_{i}"] = torch.tensor(ids, dtype=torch.int32)
        tensors[f"logits_{i}"] = logits.to(torch.float32).contiguous()
        tensors[f"greedy_{i}"] = torch.tensor(tokens, dtype=torch.int32)
        tensors[f"greedy_margin_{i}"] = torch.tensor(margins, dtype=torch.float32)
        prompts.append({
            "index": i,
            "length": len(ids),
            "greedy_new_tokens": NEW_TOKENS,
            "min_greedy_margin": min(margins),
            "text": tokenizer.decode(ids, skip_special_tokens=True),
            "greedy_text": tokenizer.decode(tokens, skip_special_tokens=False),
        })
        shown = prompts[-1]["text"].replace("\n", "\\n")
        print(f"prompt {i}: {len(ids):3d} tokens, min margin {min(margins):.4f} | {shown[:50]!s}"
              f" -> {prompts[-1]['greedy_text']!r}")
        if min(margins) < 1e-3:
            print(f"warning: prompt {i} has a near tie in its greedy continuation")

    save_file(tensors, str(out_dir / "golden.safetensors"), metadata={"format": "pt"})
    golden = {
        "prompts": prompts,
        "computed_in": f"float64, HF transformers {transformers.__version__} eager attention, "
                       "full recompute per step (no KV cache)",
        "architecture": (model.config.architectures or [type(model).__name__])[0],
        "saved_dtype": saved_dtype(args.model),
        "torch_version": torch.__version__,
    }
    (out_dir / "golden.json").write_text(json.dumps(golden, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out_dir / 'golden.safetensors'} and {out_dir / 'golden.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
