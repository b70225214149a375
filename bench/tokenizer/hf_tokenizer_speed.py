#!/usr/bin/env python3
"""Encode a text file N times with Hugging Face `tokenizers` (single thread) and print JSON with the
speed, the token count and a hash of the ids, in the same form as turbolm_tokenizer_speed.

The tokenizer folder may hold a tokenizer.json, GPT-2 style vocab.json + merges.txt (or
encoder.json + vocab.bpe), or Llama-3's tiktoken tokenizer.model. For the last two the HF
tokenizer is built here the way transformers converts them (GPT2TokenizerFast; TikTokenConverter
with Llama-3's split pattern and special tokens).

    python3 hf_tokenizer_speed.py TOKENIZER_DIR TEXT_FILE [--repeat N] [--ids-out FILE]
    python3 hf_tokenizer_speed.py TOKENIZER_DIR --write-json OUT.json   # just build tokenizer.json
"""
import argparse
import base64
import json
import os
import sys
import time

GPT2_BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def added(content, i, special=True):
    return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": not special, "special": special}


def bpe_model(vocab, merges, ignore_merges=False):
    return {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": ignore_merges,
            "vocab": vocab, "merges": merges}


def gpt2_json(vocab_path, merges_path):
    vocab = json.load(open(vocab_path, encoding="utf-8"))
    lines = open(merges_path, encoding="utf-8").read().split("\n")
    merges = [l for l in lines if l and not l.startswith("#version")]
    tokens = [added("<|endoftext|>", vocab["<|endoftext|>"])] if "<|endoftext|>" in vocab else []
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": tokens, "normalizer": None,
            "pre_tokenizer": GPT2_BYTE_LEVEL, "post_processor": dict(GPT2_BYTE_LEVEL, trim_offsets=False),
            "decoder": GPT2_BYTE_LEVEL, "model": bpe_model(vocab, merges)}


def llama3_special_tokens():
    names = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
             "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
             "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]
    i = 3
    while len(names) < 256:
        names.append("<|reserved_special_token_%d|>" % i)
        i += 1
    return names


def tiktoken_json(model_path):
    """As transformers' TikTokenConverter builds Llama-3's tokenizer from its tiktoken ranks."""
    ranks = {}
    for line in open(model_path, "rb").read().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    enc = bytes_to_unicode()
    spell = lambda b: "".join(enc[x] for x in b)
    vocab, merges = {}, []
    for token, rank in ranks.items():
        vocab[spell(token)] = rank
        if len(token) == 1:
            continue
        local = []
        for k in range(1, len(token)):
            l, r = token[:k], token[k:]
            if l in ranks and r in ranks:
                local.append((l, r, rank))
        local.sort(key=lambda x: (ranks[x[0]], ranks[x[1]]))
        merges.extend(local)
    merges.sort(key=lambda x: x[2])
    merges = [[spell(l), spell(r)] for l, r, _ in merges]
    specials = llama3_special_tokens()
    base = len(ranks)
    template = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                           {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                         {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [base],
                                                         "tokens": ["<|begin_of_text|>"]}}}
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": [added(s, base + i) for i, s in enumerate(specials)],
            "normalizer": None,
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated", "invert": False},
                dict(GPT2_BYTE_LEVEL, use_regex=False)]},
            "post_processor": {"type": "Sequence", "processors": [dict(GPT2_BYTE_LEVEL, trim_offsets=False), template]},
            "decoder": GPT2_BYTE_LEVEL, "model": bpe_model(vocab, merges, ignore_merges=True)}


def tokenizer_json(folder):
    p = lambda name: os.path.join(folder, name)
    if os.path.exists(p("tokenizer.json")):
        return json.load(open(p("tokenizer.json"), encoding="utf-8"))
    for v, m in (("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")):
        if os.path.exists(p(v)) and os.path.exists(p(m)):
            return gpt2_json(p(v), p(m))
    if os.path.exists(p("tokenizer.model")):
        head = open(p("tokenizer.model"), "rb").read(64)
        if head[:1] != b"\x0a":
            return tiktoken_json(p("tokenizer.model"))
    sys.exit("%s: no tokenizer this script can build" % folder)


def fnv1a(ids):
    h = 0xcbf29ce484222325
    for i in ids:
        for shift in (0, 8, 16, 24):
            h ^= (i >> shift) & 0xFF
            h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tokenizer_dir")
    ap.add_argument("text_file", nargs="?")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--ids-out")
    ap.add_argument("--write-json")
    args = ap.parse_args()
    spec = tokenizer_json(args.tokenizer_dir)
    if args.write_json:
        json.dump(spec, open(args.write_json, "w", encoding="utf-8"), ensure_ascii=False)
        return
    os.environ.setdefault("RAYON_NUM_THREADS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import tokenizers
    tok = tokenizers.Tokenizer.from_str(json.dumps(spec))
    # newline="" keeps the text byte for byte (universal newlines would turn \r\n into \n).
    text = open(args.text_file, encoding="utf-8", newline="").read()
    nbytes = len(text.encode("utf-8"))
    ids = tok.encode(text, add_special_tokens=False).ids  # warm-up
    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        ids = tok.encode(text, add_special_tokens=False).ids
        best = min(best, time.perf_counter() - t0)
    # HF's usual way to feed a corpus is a batch of lines; time that too (still one thread) and report
    # the faster of the two, so that the comparison is against HF at its best.
    lines = text.splitlines(keepends=True)
    tok.encode_batch(lines, add_special_tokens=False)
    best_batch = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        tok.encode_batch(lines, add_special_tokens=False)
        best_batch = min(best_batch, time.perf_counter() - t0)
    if args.ids_out:
        with open(args.ids_out, "w") as f:
            f.write(" ".join(map(str, ids)) + "\n")
    print(json.dumps({"impl": "hf-tokenizers", "version": tokenizers.__version__, "tokenizer": args.tokenizer_dir,
                      "text_bytes": nbytes, "tokens": len(ids), "repeat": args.repeat, "best_seconds": best,
                      "mb_per_s_one_string": nbytes / best / 1e6, "mb_per_s_batch_of_lines": nbytes / best_batch / 1e6,
                      "mb_per_s": nbytes / min(best, best_batch) / 1e6, "tokens_per_s": len(ids) / best, "ids_fnv1a": fnv1a(ids)}))


if __name__ == "__main__":
    main()
