#!/usr/bin/env python3
"""Train turbolm's demo model: a small Llama-architecture language model on the King James Bible.

Input is the corpus that tools/demo_model/prepare_corpus.sh writes (train.txt, heldout.txt,
corpus_info.json). Output is a standard Hugging Face model folder:

  config.json, generation_config.json    model and sampling settings
  model*.safetensors (+ index if sharded) bfloat16 weights
  tokenizer.json, tokenizer_config.json  byte-level BPE tokenizer with a chat template
  training_log.json                      command, seeds, settings, loss curves, results
  README.md                              model card, filled from tools/demo_model/MODEL_CARD.md.in

Steps: train a tokenizer on the training text; build training windows that start at a verse
(and a few chat-formatted ones); train LlamaForCausalLM with AdamW and a cosine schedule under a
wall-clock budget; keep the weights with the best validation loss; save in bfloat16; load the
folder back with the Auto classes, measure held-out perplexity and print generations.

Needs a GPU with bfloat16 (runs on CPU only for debugging), torch, transformers 5.x, tokenizers,
safetensors. `--smoke` trains a tiny model for 20 steps to check every step in under a minute.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import random
import re
import shlex
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# Tokens and chat format

BOS = "<|begin_of_text|>"
EOS = "<|end_of_text|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
# The trainer gives special tokens the first ids, in this order: BOS=0, EOS=1, IM_START=2, IM_END=3.
SPECIAL_TOKENS = [BOS, EOS, IM_START, IM_END]

# ChatML framing after a BOS. Kept to constructs that any Jinja implementation has: a loop,
# string concatenation, item access and one `if`. The string literals hold "\n" escapes.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# System prompts seen in some training conversations, so that a system turn is not unknown.
SYSTEM_PROMPTS = [
    "You answer in the words of the King James Bible.",
    "Continue the scripture.",
]

IGNORE_INDEX = -100
MODEL_CARD_TEMPLATE = Path(__file__).resolve().parent / "demo_model" / "MODEL_CARD.md.in"

# ---------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class ModelShape:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    n_ctx: int
    rope_theta: float = 10000.0


# 12.6 M parameters with tied embeddings = 25.2 MB in bfloat16. Head dim 64 is what attention
# kernels are usually specialized for; 6 query heads over 2 key/value heads is GQA with groups of 3.
FULL_SHAPE = ModelShape(
    vocab_size=4096, hidden_size=384, intermediate_size=1024, num_layers=7, num_heads=6, num_kv_heads=2,
    head_dim=64, n_ctx=512,
)
SMOKE_SHAPE = ModelShape(
    vocab_size=512, hidden_size=64, intermediate_size=176, num_layers=2, num_heads=2, num_kv_heads=1,
    head_dim=32, n_ctx=128,
)


@dataclass
class TrainSettings:
    seed: int = 1234
    batch_size: int = 64
    lr: float = 1.5e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    # The corpus is ~1 M tokens and the model can memorize it: dropout and the epoch cap keep it
    # generalizing, and the weights with the best validation loss are the ones saved.
    dropout: float = 0.2
    max_epochs: float = 100.0
    budget_s: float | None = 300.0
    max_steps: int | None = None
    log_every: int = 25
    eval_every: int = 100
    calibrate_at: tuple[int, int] = (10, 30)  # steps between which the step time is measured
    chat_fraction: float = 0.1
    chat_pool_size: int = 4096
    val_every_nth_chapter: int = 40
    compile: bool = True
    max_shard_size: str = "15MB"
    smoke: bool = False


@dataclass
class Corpus:
    train_chapters: list[list[str]]
    val_chapters: list[list[str]]
    heldout_text: str
    info: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Corpus


def read_chapters(path: Path) -> list[list[str]]:
    """Chapters are separated by an empty line; each line is one verse."""
    text = path.read_text(encoding="utf-8")
    chapters = [[v for v in block.split("\n") if v] for block in text.strip("\n").split("\n\n")]
    return [c for c in chapters if c]


def chapters_text(chapters: list[list[str]]) -> str:
    """Inverse of read_chapters: the exact file format the model trains on."""
    return "\n\n".join("\n".join(c) for c in chapters) + "\n"


def split_validation(chapters: list[list[str]], every: int) -> tuple[list[list[str]], list[list[str]]]:
    """Every `every`-th chapter goes to validation: spread over all books, never trained on."""
    train = [c for i, c in enumerate(chapters) if i % every != every // 2]
    val = [c for i, c in enumerate(chapters) if i % every == every // 2]
    return train, val


def load_corpus(args: argparse.Namespace, settings: TrainSettings) -> Corpus:
    chapters = read_chapters(args.corpus)
    heldout_chapters = read_chapters(args.heldout)
    if settings.smoke:
        # A small slice keeps tokenizer training and data preparation to a second or two.
        chapters, heldout_chapters = chapters[:120], heldout_chapters[:6]
    train, val = split_validation(chapters, settings.val_every_nth_chapter)
    info: dict[str, Any] = {}
    info_path = args.corpus_info or args.corpus.parent / "corpus_info.json"
    if info_path.is_file():
        info = json.loads(info_path.read_text(encoding="utf-8"))
    return Corpus(train, val, chapters_text(heldout_chapters), info)


# ---------------------------------------------------------------------------------------------
# Tokenizer


def train_tokenizer(text: str, vocab_size: int):
    """Byte-level BPE (GPT-2 pre-tokenizer regex): any byte string is encodable, nothing is <unk>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    lines = text.splitlines(keepends=True)
    tok.train_from_iterator(lines, trainer=trainer, length=len(lines))
    for expected_id, token in enumerate(SPECIAL_TOKENS):
        if tok.token_to_id(token) != expected_id:
            raise RuntimeError(f"special token {token} got id {tok.token_to_id(token)}, expected {expected_id}")
    bos_id = tok.token_to_id(BOS)
    # The same template HF builds from add_bos_token=True, so both agree on every input.
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS}:0 $A:0",
        pair=f"{BOS}:0 $A:0 {BOS}:1 $B:1",
        special_tokens=[(BOS, bos_id)],
    )
    return tok


def tokenizer_config(n_ctx: int) -> dict[str, Any]:
    return {
        # A generic class: with a model-specific one (LlamaTokenizer) transformers 5 would
        # rebuild the backend from vocab and merges with its own pre-tokenizer.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS,
        "eos_token": EOS,
        "add_bos_token": True,
        "add_eos_token": False,
        "model_max_length": n_ctx,
        "clean_up_tokenization_spaces": False,
        # Without this the base class also returns token_type_ids, which Llama does not take.
        "model_input_names": ["input_ids", "attention_mask"],
        "chat_template": CHAT_TEMPLATE,
    }


def write_tokenizer(tok, out_dir: Path, n_ctx: int) -> None:
    tok.save(str(out_dir / "tokenizer.json"))
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(n_ctx), indent=2) + "\n")


def render_chat(messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    """What CHAT_TEMPLATE renders; checked against HF's rendering once the folder is saved."""
    text = BOS + "".join(f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in messages)
    return text + (f"{IM_START}assistant\n" if add_generation_prompt else "")


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class TokenData:
    train_ids: torch.Tensor  # int64 [N] on device: the training text as one token stream
    starts: torch.Tensor  # int64 [S] on device: stream positions where a verse starts
    chat_rows: torch.Tensor  # int64 [P, n_ctx + 1] on device: BOS + chat-formatted tokens
    val: tuple[torch.Tensor, torch.Tensor]  # inputs, targets [Nv, n_ctx] (CPU)
    train_probe: tuple[torch.Tensor, torch.Tensor]  # a sample of training windows, same layout
    train_text_bytes: int
    bos_id: int
    eos_id: int


def verse_starts(ids: list[int], newline_id: int, n_ctx: int) -> list[int]:
    """Positions right after a newline token (and 0), leaving room for a full window.

    With the GPT-2 pre-tokenizer a newline before a letter is always its own token, so every
    verse starts at a token boundary; the caller checks that."""
    starts = [0] + [i + 1 for i in range(len(ids) - 1) if ids[i] == newline_id and ids[i + 1] != newline_id]
    return [s for s in starts if s + n_ctx <= len(ids)]


def eval_windows(ids: list[int], n_ctx: int, bos_id: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut a token stream into chunks of n_ctx tokens; each is scored after a BOS.

    Row r: inputs = [BOS] + chunk[:-1], targets = chunk. Every token is predicted exactly once,
    so the mean over targets is the stream's per-token loss. Short last rows are padded and
    their padding is ignored."""
    rows = max(1, math.ceil(len(ids) / n_ctx))
    inputs = torch.full((rows, n_ctx), pad_id, dtype=torch.long)
    targets = torch.full((rows, n_ctx), IGNORE_INDEX, dtype=torch.long)
    for r in range(rows):
        chunk = ids[r * n_ctx : (r + 1) * n_ctx]
        if not chunk:
            continue
        seq = [bos_id] + chunk
        inputs[r, : len(chunk)] = torch.tensor(seq[:-1])
        targets[r, : len(chunk)] = torch.tensor(chunk)
    return inputs, targets


def build_chat_texts(verses: list[str], count: int, min_chars: int, rng: random.Random) -> list[str]:
    """Conversations in which each user turn is a verse and each reply is the verse after it.

    This is the only chat skill the model gets: enough for a chat request to answer in kind and
    end with <|im_end|>."""
    texts = []
    for _ in range(count):
        messages = []
        if rng.random() < 0.3:
            messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
        i = rng.randrange(0, max(1, len(verses) - 1))
        chars = 0
        while chars < min_chars and i + 1 < len(verses):
            messages.append({"role": "user", "content": verses[i]})
            messages.append({"role": "assistant", "content": verses[i + 1]})
            chars += len(verses[i]) + len(verses[i + 1]) + 40
            i += 2
        texts.append(render_chat(messages))
    return texts


def build_token_data(tok, corpus: Corpus, shape: ModelShape, settings: TrainSettings, device: torch.device) -> TokenData:
    bos_id, eos_id = tok.token_to_id(BOS), tok.token_to_id(EOS)
    newline = tok.encode("\n", add_special_tokens=False).ids
    if len(newline) != 1:
        raise RuntimeError(f"newline encodes to {newline}, expected one token")
    newline_id = newline[0]

    train_text = chapters_text(corpus.train_chapters)
    ids = tok.encode(train_text, add_special_tokens=False).ids
    if ids.count(newline_id) != train_text.count("\n"):
        raise RuntimeError("a newline was merged into another token; verse starts would be wrong")
    starts = verse_starts(ids, newline_id, shape.n_ctx)
    if not starts:
        raise RuntimeError(f"training text ({len(ids)} tokens) is shorter than one window of {shape.n_ctx}")

    rng = random.Random(settings.seed)
    verses = [v for c in corpus.train_chapters for v in c]
    # About 4 characters a token: 6 characters a token of text is enough for a full window.
    texts = build_chat_texts(verses, settings.chat_pool_size, 6 * (shape.n_ctx + 1), rng)
    encoded = tok.encode_batch(texts, add_special_tokens=False)
    chat = [e.ids[: shape.n_ctx + 1] for e in encoded if len(e.ids) >= shape.n_ctx + 1]
    if settings.chat_fraction > 0 and not chat:
        raise RuntimeError("no chat conversation was long enough for one window")

    val_ids = tok.encode(chapters_text(corpus.val_chapters), add_special_tokens=False).ids
    val = eval_windows(val_ids, shape.n_ctx, bos_id, eos_id)
    # Evenly spaced training windows, as many as validation has, to compare like with like.
    probe_in, probe_tg = eval_windows(ids, shape.n_ctx, bos_id, eos_id)
    pick = torch.linspace(0, len(probe_in) - 1, steps=min(len(probe_in), len(val[0]))).round().long()

    print(
        f"tokens: train {len(ids):,} ({len(train_text.encode()) / len(ids):.2f} bytes/token), "
        f"verse starts {len(starts):,}, chat rows {len(chat):,}, validation {len(val_ids):,}"
    )
    return TokenData(
        train_ids=torch.tensor(ids, dtype=torch.long, device=device),
        starts=torch.tensor(starts, dtype=torch.long, device=device),
        chat_rows=torch.tensor(chat or [[bos_id] * (shape.n_ctx + 1)], dtype=torch.long, device=device),
        val=val,
        train_probe=(probe_in[pick], probe_tg[pick]),
        train_text_bytes=len(train_text.encode()),
        bos_id=bos_id,
        eos_id=eos_id,
    )


class Batcher:
    """Random training windows: BOS + n_ctx tokens from a verse start, plus some chat rows."""

    def __init__(self, data: TokenData, batch_size: int, n_ctx: int, chat_fraction: float, seed: int):
        self.data = data
        self.n_ctx = n_ctx
        self.n_chat = min(batch_size - 1, round(batch_size * chat_fraction)) if chat_fraction > 0 else 0
        self.n_text = batch_size - self.n_chat
        # A CPU generator: the same sequence of windows on any device.
        self.gen = torch.Generator().manual_seed(seed)
        device = data.train_ids.device
        self.offsets = torch.arange(n_ctx, device=device)
        self.bos = torch.full((self.n_text, 1), data.bos_id, dtype=torch.long, device=device)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        device = self.data.train_ids.device
        pick = torch.randint(len(self.data.starts), (self.n_text,), generator=self.gen).to(device)
        window = self.data.train_ids[self.data.starts[pick][:, None] + self.offsets]  # [n_text, n_ctx]
        inputs = torch.cat([self.bos, window[:, :-1]], dim=1)
        targets = window
        if self.n_chat:
            rows = torch.randint(len(self.data.chat_rows), (self.n_chat,), generator=self.gen).to(device)
            chat = self.data.chat_rows[rows]
            inputs = torch.cat([inputs, chat[:, :-1]], dim=0)
            targets = torch.cat([targets, chat[:, 1:]], dim=0)
        return inputs, targets


# ---------------------------------------------------------------------------------------------
# Model


def build_model(shape: ModelShape, bos_id: int, eos_ids: list[int]):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=shape.vocab_size,
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_kv_heads,
        head_dim=shape.head_dim,
        max_position_embeddings=shape.n_ctx,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": float(shape.rope_theta)},
        tie_word_embeddings=True,
        bos_token_id=bos_id,
        # Both ids end a generation, here and in generation_config.json, for readers of either.
        eos_token_id=eos_ids,
        pad_token_id=None,
        attention_bias=False,
        mlp_bias=False,
    )
    return LlamaForCausalLM(config)


def add_dropout(model, p: float) -> None:
    """Dropout on the embedding output and on each attention and MLP output, in training only.

    LlamaForCausalLM has no residual dropout of its own; hooks add it without changing the
    weights or config.json."""
    if p <= 0:
        return

    def hook(module, _inputs, output):
        if isinstance(output, tuple):
            return (F.dropout(output[0], p, module.training),) + tuple(output[1:])
        return F.dropout(output, p, module.training)

    model.model.embed_tokens.register_forward_hook(hook)
    for layer in model.model.layers:
        layer.self_attn.register_forward_hook(hook)
        layer.mlp.register_forward_hook(hook)


def count_params(model) -> int:
    # parameters() yields a tied tensor once, which is how it is saved too.
    return sum(p.numel() for p in model.parameters())


def make_optimizer(model, settings: TrainSettings, device: torch.device) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.dim() >= 2]  # matrices and the embedding
    no_decay = [p for p in model.parameters() if p.dim() < 2]  # RMSNorm weights
    groups = [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = {"fused": True} if device.type == "cuda" else {}
    return torch.optim.AdamW(groups, lr=settings.lr, betas=settings.betas, eps=1e-8, **fused)


def lr_at(step: int, total_steps: int | None, settings: TrainSettings) -> float:
    """Linear warm-up, then cosine from lr down to lr * min_lr_ratio at total_steps."""
    if step < settings.warmup_steps:
        return settings.lr * (step + 1) / settings.warmup_steps
    if total_steps is None:  # horizon not known yet: hold the peak
        return settings.lr
    span = max(1, total_steps - settings.warmup_steps)
    progress = min(1.0, (step - settings.warmup_steps) / span)
    floor = settings.lr * settings.min_lr_ratio
    return floor + (settings.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def autocast(use_bf16: bool):
    """bfloat16 autocast on the GPU; a no-op context otherwise (CPU debugging)."""
    if use_bf16:
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_loss_fn(model, use_bf16: bool) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def loss_fn(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        with autocast(use_bf16):
            logits = model(input_ids=inputs, use_cache=False).logits
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)

    return loss_fn


@torch.no_grad()
def evaluate(model, windows: tuple[torch.Tensor, torch.Tensor], device: torch.device, use_bf16: bool,
             batch_size: int = 32) -> tuple[float, int]:
    """Summed negative log-likelihood (nats) and the number of scored tokens."""
    was_training = model.training
    model.eval()
    inputs, targets = windows
    total, count = 0.0, 0
    for i in range(0, len(inputs), batch_size):
        x, y = inputs[i : i + batch_size].to(device), targets[i : i + batch_size].to(device)
        with autocast(use_bf16):
            logits = model(input_ids=x, use_cache=False).logits
        total += F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=IGNORE_INDEX,
                                 reduction="sum").item()
        count += int((y != IGNORE_INDEX).sum().item())
    model.train(was_training)
    return total, count


# ---------------------------------------------------------------------------------------------
# Training loop


@dataclass
class TrainResult:
    steps: int = 0
    total_steps_planned: int | None = None
    tokens_seen: int = 0
    train_time_s: float = 0.0
    stopped_by: str = ""
    compile_used: bool = False
    compile_error: str = ""
    best_val_loss: float = float("inf")
    best_step: int = -1
    curve: list[dict[str, float]] = field(default_factory=list)
    eval_curve: list[dict[str, float]] = field(default_factory=list)


def plan_total_steps(step: int, elapsed: float, step_time: float, cap: int | None, settings: TrainSettings) -> int:
    """Steps that fit in the rest of the budget; 8% is kept back for evaluations and jitter."""
    planned = cap if cap is not None else 10**9
    if settings.budget_s is not None:
        remaining = max(0.0, settings.budget_s - elapsed)
        planned = min(planned, step + int(0.92 * remaining / max(step_time, 1e-6)))
    return max(planned, step + 1)


def train(model, data: TokenData, shape: ModelShape, settings: TrainSettings, device: torch.device) -> TrainResult:
    use_bf16 = device.type == "cuda"
    result = TrainResult()
    optimizer = make_optimizer(model, settings, device)
    batcher = Batcher(data, settings.batch_size, shape.n_ctx, settings.chat_fraction, settings.seed + 1)
    tokens_per_step = settings.batch_size * shape.n_ctx

    eager_loss = make_loss_fn(model, use_bf16)
    loss_fn = eager_loss
    if settings.compile:
        try:
            loss_fn = torch.compile(eager_loss)
            result.compile_used = True
        except Exception as exc:  # torch.compile itself is lazy; this only catches a missing backend
            result.compile_error = f"{type(exc).__name__}: {exc}"
            print(f"torch.compile unavailable ({result.compile_error}); training eagerly")

    epoch_cap = math.ceil(settings.max_epochs * len(data.train_ids) / tokens_per_step)
    cap = min(epoch_cap, settings.max_steps) if settings.max_steps else epoch_cap
    # Without a time budget the horizon is known now; with one it is fixed after calibration.
    total_steps = cap if settings.budget_s is None else None
    best_state: dict[str, torch.Tensor] | None = None

    model.train()
    t_start = time.time()
    t_log, log_loss, log_count = t_start, torch.zeros((), device=device), 0
    t_cal = 0.0
    step = 0
    while True:
        elapsed = time.time() - t_start
        if total_steps is not None and step >= total_steps:
            result.stopped_by = "planned steps done"
            break
        if settings.budget_s is not None and elapsed >= settings.budget_s:
            result.stopped_by = "time budget"
            break

        lr = lr_at(step, total_steps, settings)
        for group in optimizer.param_groups:
            group["lr"] = lr
        inputs, targets = batcher.next()
        try:
            loss = loss_fn(inputs, targets)
            loss.backward()
        except Exception as exc:
            # Compilation happens on the first calls (forward, then backward). If it fails,
            # train eagerly instead; later failures are real errors.
            if loss_fn is eager_loss or step > 1:
                raise
            result.compile_used = False
            result.compile_error = f"{type(exc).__name__}: {str(exc)[:500]}"
            print(f"torch.compile failed at step {step} ({result.compile_error}); training eagerly")
            optimizer.zero_grad(set_to_none=True)
            loss_fn = eager_loss
            loss = loss_fn(inputs, targets)
            loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        log_loss += loss.detach()
        log_count += 1
        step += 1

        # Measure the steady step time once compilation is behind, then fix the cosine horizon.
        if settings.budget_s is not None and total_steps is None:
            if step >= cap:
                total_steps = cap
            elif step == settings.calibrate_at[0]:
                sync(device)
                t_cal = time.time()
            elif step == settings.calibrate_at[1]:
                sync(device)
                step_time = (time.time() - t_cal) / max(1, step - settings.calibrate_at[0])
                total_steps = plan_total_steps(step, time.time() - t_start, step_time, cap, settings)
                print(f"step time {step_time * 1000:.1f} ms -> {total_steps} steps "
                      f"({total_steps * tokens_per_step / len(data.train_ids):.1f} epochs)")

        if step % settings.log_every == 0 or step == total_steps:
            mean_loss = (log_loss / log_count).item()  # synchronizes
            now = time.time()
            point = {
                "step": step,
                "tokens": step * tokens_per_step,
                "elapsed_s": round(now - t_start, 2),
                "lr": lr,
                "train_loss": round(mean_loss, 4),
                "grad_norm": round(float(grad_norm), 4),
                "tokens_per_s": round(log_count * tokens_per_step / max(now - t_log, 1e-9)),
            }
            result.curve.append(point)
            print(f"step {step:5d}/{total_steps or '?'} | loss {mean_loss:.4f} | lr {lr:.2e} | "
                  f"gnorm {point['grad_norm']:.3f} | {point['tokens_per_s'] / 1e3:.0f}k tok/s | {point['elapsed_s']:.1f} s")
            t_log, log_loss, log_count = now, torch.zeros((), device=device), 0

        if step % settings.eval_every == 0 or step == total_steps:
            t_eval = time.time()
            nll, count = evaluate(model, data.val, device, use_bf16)
            val_loss = nll / max(count, 1)
            better = val_loss < result.best_val_loss
            if better:
                result.best_val_loss, result.best_step = val_loss, step
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            result.eval_curve.append({"step": step, "val_loss": round(val_loss, 4)})
            print(f"eval  {step:5d} | val loss {val_loss:.4f} | ppl {perplexity(val_loss):.2f}"
                  f"{' | best' if better else ''} | {time.time() - t_eval:.1f} s")
            t_log += time.time() - t_eval  # keep evaluation time out of tokens/s

    sync(device)
    result.steps = step
    result.total_steps_planned = total_steps
    result.tokens_seen = step * tokens_per_step
    result.train_time_s = round(time.time() - t_start, 2)
    if not result.eval_curve or result.eval_curve[-1]["step"] != step:
        nll, count = evaluate(model, data.val, device, use_bf16)
        val_loss = nll / max(count, 1)
        result.eval_curve.append({"step": step, "val_loss": round(val_loss, 4)})
        if val_loss < result.best_val_loss:
            result.best_val_loss, result.best_step, best_state = val_loss, step, None
    if best_state is not None and result.best_step != step:
        print(f"restoring the weights of step {result.best_step} (best validation loss {result.best_val_loss:.4f})")
        model.load_state_dict(best_state)
    print(f"stopped after {step} steps ({result.stopped_by}), {result.train_time_s:.1f} s, "
          f"{result.tokens_seen:,} tokens")
    return result


def perplexity(loss: float) -> float:
    return math.exp(loss) if loss < 700 else float("inf")  # a diverged run must not crash the report


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# ---------------------------------------------------------------------------------------------
# Saving and checking


def generation_config(bos_id: int, eos_id: int, im_end_id: int, max_new_tokens: int):
    from transformers import GenerationConfig

    # <|im_end|> ends a chat answer, <|end_of_text|> ends a document: both stop generation.
    return GenerationConfig(
        bos_token_id=bos_id,
        eos_token_id=[eos_id, im_end_id],
        pad_token_id=eos_id,
        do_sample=True,
        temperature=0.8,
        top_k=50,
        top_p=0.95,
        max_new_tokens=max_new_tokens,
    )


def save_model(model, out_dir: Path, gen_config, max_shard_size: str) -> None:
    model.to(torch.bfloat16)
    model.generation_config = gen_config
    model.save_pretrained(str(out_dir), max_shard_size=max_shard_size)


def check_tokenizer(hf_tok, raw_tok) -> dict[str, Any]:
    """The HF tokenizer built from the saved files must agree with the one trained here."""
    text = "And God said, Let there be light: and there was light."
    ids = hf_tok(text)["input_ids"]
    raw = raw_tok.encode(text).ids
    if ids != raw or ids[0] != hf_tok.bos_token_id or ids.count(hf_tok.bos_token_id) != 1:
        raise RuntimeError(f"HF tokenizer ids {ids[:8]}... differ from the trained tokenizer's {raw[:8]}...")
    if hf_tok.decode(ids, skip_special_tokens=True) != text:
        raise RuntimeError("decode(encode(text)) does not give the text back")
    messages = [
        {"role": "system", "content": SYSTEM_PROMPTS[0]},
        {"role": "user", "content": "In the beginning God created the heaven and the earth."},
    ]
    rendered = hf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if rendered != render_chat(messages, add_generation_prompt=True):
        raise RuntimeError(f"chat template renders {rendered!r}, training used {render_chat(messages, True)!r}")
    chat_ids = hf_tok(rendered, add_special_tokens=False)["input_ids"]
    if chat_ids.count(hf_tok.bos_token_id) != 1:
        raise RuntimeError("the rendered chat prompt does not hold exactly one BOS")
    return {"example_ids": ids, "chat_prompt": rendered, "chat_prompt_tokens": len(chat_ids)}


@torch.no_grad()
def greedy_ids(model, ids: torch.Tensor, new_tokens: int, stop_ids: set[int]) -> list[int]:
    """Plain greedy decoding by full recomputation: no dependence on generate()'s merging of
    generation_config.json (whose defaults sample) with call arguments."""
    seq, out = ids, []
    for _ in range(new_tokens):
        token = int(model(input_ids=seq, use_cache=False).logits[0, -1].argmax())
        out.append(token)
        if token in stop_ids:
            break
        seq = torch.cat([seq, seq.new_tensor([[token]])], dim=1)
    return out


def generate_text(model, hf_tok, prompt: str, device: torch.device, new_tokens: int, chat: bool = False,
                  sample_seed: int | None = None) -> str:
    """Greedy continuation, or, with a seed, one sampled with the saved generation_config.json."""
    enc = hf_tok(prompt, return_tensors="pt", add_special_tokens=not chat)
    input_ids, attention_mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
    eos = model.generation_config.eos_token_id
    stop_ids = set(eos if isinstance(eos, list) else [eos])
    if sample_seed is None:
        new_ids = greedy_ids(model, input_ids, new_tokens, stop_ids)
    else:
        torch.manual_seed(sample_seed)
        out = model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=new_tokens)
        new_ids = out[0, input_ids.shape[1] :].tolist()
    return hf_tok.decode(new_ids, skip_special_tokens=True)


def reload_and_check(out_dir: Path, trained_state: dict[str, torch.Tensor], raw_tok, heldout_text: str,
                     shape: ModelShape, device: torch.device, new_tokens: int) -> dict[str, Any]:
    """Load the folder as a user would; compare weights; held-out perplexity; generations."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf_tok = AutoTokenizer.from_pretrained(str(out_dir))
    tok_checks = check_tokenizer(hf_tok, raw_tok)
    model = AutoModelForCausalLM.from_pretrained(str(out_dir), dtype=torch.float32).to(device)
    model.eval()

    loaded = model.state_dict()
    for name, tensor in trained_state.items():
        if name not in loaded:
            raise RuntimeError(f"tensor {name} missing after reload")
        if not torch.equal(loaded[name].to(torch.bfloat16).cpu(), tensor.cpu()):
            raise RuntimeError(f"tensor {name} changed between save and reload")

    # Held-out text scored in float32 from the saved bfloat16 weights: what a user would measure.
    ids = raw_tok.encode(heldout_text, add_special_tokens=False).ids
    nll, count = evaluate(model, eval_windows(ids, shape.n_ctx, hf_tok.bos_token_id, hf_tok.eos_token_id),
                          device, use_bf16=False)
    heldout_loss = nll / count
    results: dict[str, Any] = {
        "heldout_tokens": count,
        "heldout_loss": heldout_loss,
        "heldout_ppl": perplexity(heldout_loss),
        "heldout_bits_per_byte": nll / math.log(2) / len(heldout_text.encode("utf-8")),
        "tokenizer_checks": tok_checks,
    }

    prompts = ["And God said", "In the beginning", "The LORD is my shepherd", "Blessed are the"]
    results["greedy"] = {p: generate_text(model, hf_tok, p, device, new_tokens) for p in prompts}
    results["sampled"] = {"And God said": generate_text(model, hf_tok, "And God said", device, new_tokens,
                                                        sample_seed=7)}
    chat_prompt = hf_tok.apply_chat_template(
        [{"role": "user", "content": "And God said, Let there be light: and there was light."}],
        tokenize=False, add_generation_prompt=True,
    )
    results["chat"] = {"user": "And God said, Let there be light: and there was light.",
                       "reply": generate_text(model, hf_tok, chat_prompt, device, new_tokens, chat=True)}
    return results


# ---------------------------------------------------------------------------------------------
# Reports


def fill_template(template: str, values: dict[str, Any]) -> str:
    """Replace {name} placeholders; plain replacement, so other braces in Markdown are safe."""
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", str(value))
    left = sorted(set(re.findall(r"\{[a-z][a-z0-9_]*\}", out)))
    if left:
        print(f"warning: model card placeholders left unfilled: {', '.join(left)}")
    return out


def command_line() -> str:
    """This run's command, with the script path relative to the working directory when inside it."""
    argv = list(sys.argv)
    try:
        argv[0] = str(Path(argv[0]).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        pass
    return shlex.join(["python3"] + argv)


def reproduce_hint(result: TrainResult) -> str:
    if result.stopped_by == "planned steps done":
        return (f"add --steps {result.steps} --minutes 0 for the same schedule without a clock "
                "(same seeds; GPU kernels are not bitwise deterministic)")
    return "stopped by the time budget: the schedule depended on the clock and cannot be replayed exactly"


def weight_files(out_dir: Path) -> list[Path]:
    return sorted(p for p in out_dir.glob("model*.safetensors"))


def write_reports(out_dir: Path, args: argparse.Namespace, settings: TrainSettings, shape: ModelShape, model_config: dict,
                  corpus: Corpus, data: TokenData, result: TrainResult, checks: dict[str, Any], params: int,
                  wall_start: float, device: torch.device) -> None:
    import tokenizers
    import transformers

    gpu = torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "cpu"
    final_train_loss = result.curve[-1]["train_loss"] if result.curve else float("nan")
    epochs = result.tokens_seen / len(data.train_ids)
    command = command_line()
    weights = weight_files(out_dir)
    val_loss = result.best_val_loss
    train_probe_nll = checks.get("train_probe_loss", float("nan"))

    log = {
        "command": command,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "seeds": {"python_random": settings.seed, "torch": settings.seed, "batch_sampler": settings.seed + 1},
        "model_shape": asdict(shape),
        "model_config": model_config,
        "train_settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(settings).items()},
        "params": params,
        "weights_bytes": sum(p.stat().st_size for p in weights),
        "weight_files": [p.name for p in weights],
        "corpus": corpus.info,
        "train_tokens": len(data.train_ids),
        "train_chapters": len(corpus.train_chapters),
        "validation_chapters": len(corpus.val_chapters),
        "loss_curve": result.curve,
        "eval_curve": result.eval_curve,
        "final_train_loss": final_train_loss,
        "train_probe_loss_eval_mode": train_probe_nll,
        "best_val_loss": val_loss,
        "best_val_step": result.best_step,
        "heldout_loss": checks["heldout_loss"],
        "heldout_ppl": checks["heldout_ppl"],
        "heldout_bits_per_byte": checks["heldout_bits_per_byte"],
        "heldout_tokens": checks["heldout_tokens"],
        "tokens_seen": result.tokens_seen,
        "epochs": epochs,
        "steps": result.steps,
        "steps_planned": result.total_steps_planned,
        "stopped_by": result.stopped_by,
        "train_time_s": result.train_time_s,
        "wall_time_s": round(time.time() - wall_start, 1),
        "compile_used": result.compile_used,
        "compile_error": result.compile_error,
        "gpu": gpu,
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "tokenizers": tokenizers.__version__},
        "generations": {k: checks[k] for k in ("greedy", "sampled", "chat")},
        "tokenizer_checks": checks["tokenizer_checks"],
        "reproduce": reproduce_hint(result),
    }
    (out_dir / "training_log.json").write_text(json.dumps(log, indent=2) + "\n", encoding="utf-8")

    if not MODEL_CARD_TEMPLATE.is_file():
        print(f"warning: {MODEL_CARD_TEMPLATE} not found; README.md not written")
        return
    greedy_prompt = "And God said"
    values = {
        "params": f"{params:,}",
        "params_m": f"{params / 1e6:.1f}",
        "weights_mb": f"{log['weights_bytes'] / 1e6:.1f}",
        "n_weight_files": len(weights),
        "num_layers": shape.num_layers,
        "hidden_size": shape.hidden_size,
        "intermediate_size": shape.intermediate_size,
        "num_heads": shape.num_heads,
        "num_kv_heads": shape.num_kv_heads,
        "head_dim": shape.head_dim,
        "n_ctx": shape.n_ctx,
        "rope_theta": f"{shape.rope_theta:g}",
        "vocab_size": shape.vocab_size,
        "package_version": corpus.info.get("debian_package_version", "unknown"),
        "heldout_books": ", ".join(corpus.info.get("heldout_book_names", [])) or "(see corpus_info.json)",
        "train_tokens": f"{len(data.train_ids):,}",
        "steps": result.steps,
        "batch_size": settings.batch_size,
        "tokens_seen": f"{result.tokens_seen:,}",
        "epochs": f"{epochs:.1f}",
        "lr": f"{settings.lr:g}",
        "dropout": settings.dropout,
        "weight_decay": settings.weight_decay,
        "train_minutes": f"{result.train_time_s / 60:.1f}",
        "gpu": gpu,
        "date": log["date"][:10],
        "final_loss": f"{final_train_loss:.3f}",
        "val_loss": f"{val_loss:.3f}",
        "val_ppl": f"{perplexity(val_loss):.2f}",
        "best_step": result.best_step,
        "heldout_loss": f"{checks['heldout_loss']:.3f}",
        "heldout_ppl": f"{checks['heldout_ppl']:.2f}",
        "heldout_bpb": f"{checks['heldout_bits_per_byte']:.3f}",
        "command": command,
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "sample_prompt": greedy_prompt,
        "sample_greedy": checks["greedy"][greedy_prompt],
        "sample_sampled": checks["sampled"][greedy_prompt],
        "chat_user": checks["chat"]["user"],
        "chat_reply": checks["chat"]["reply"],
    }
    card = fill_template(MODEL_CARD_TEMPLATE.read_text(encoding="utf-8"), values)
    (out_dir / "README.md").write_text(card, encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Main


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, required=True, help="train.txt from prepare_corpus.sh")
    p.add_argument("--heldout", type=Path, required=True, help="heldout.txt from prepare_corpus.sh")
    p.add_argument("--corpus-info", type=Path, default=None, help="default: corpus_info.json beside --corpus")
    p.add_argument("--out", type=Path, required=True, help="output folder (created; must be empty)")
    p.add_argument("--minutes", type=float, default=None,
                   help="training wall-clock budget (default 5; 0 = none). Training also stops at --max-epochs")
    p.add_argument("--steps", type=int, default=None, help="stop after this many steps (no time budget unless --minutes)")
    p.add_argument("--max-epochs", type=float, default=None, help="cap on passes over the training text (default 100)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--dropout", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-compile", action="store_true", help="do not try torch.compile")
    p.add_argument("--max-shard-mb", type=float, default=15.0, help="largest weight file, in MB (10^6 bytes)")
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu, for debugging only")
    p.add_argument("--smoke", action="store_true", help="tiny model, 20 steps, corpus slice: checks every step")
    return p.parse_args()


def resolve_settings(args: argparse.Namespace) -> tuple[ModelShape, TrainSettings]:
    settings = TrainSettings()
    shape = FULL_SHAPE
    if args.smoke:
        shape = SMOKE_SHAPE
        settings = replace(settings, batch_size=8, warmup_steps=5, log_every=5, eval_every=10, chat_pool_size=64,
                           calibrate_at=(5, 10), max_steps=20, budget_s=60.0, max_shard_size="100KB", smoke=True)
    if args.steps is not None:
        settings = replace(settings, max_steps=args.steps, budget_s=None)
    if args.minutes is not None:
        settings = replace(settings, budget_s=args.minutes * 60 if args.minutes > 0 else None)
    if not args.smoke:
        settings = replace(settings, max_shard_size=f"{int(args.max_shard_mb * 1000)}KB")
    overrides = {"max_epochs": args.max_epochs, "batch_size": args.batch_size, "lr": args.lr,
                 "dropout": args.dropout, "seed": args.seed}
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    if args.no_compile:
        settings = replace(settings, compile=False)
    return shape, settings


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def main() -> int:
    wall_start = time.time()
    args = parse_args()
    shape, settings = resolve_settings(args)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device; use --device cpu to debug on a CPU", file=sys.stderr)
        return 1
    if args.out.exists() and any(args.out.iterdir()):
        print(f"{args.out} is not empty; give a new folder", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    seed_everything(settings.seed)
    print(f"settings: {asdict(settings)}")
    print(f"model shape: {asdict(shape)}")

    corpus = load_corpus(args, settings)
    # The tokenizer sees the training chapters only: validation and held-out text stay unseen.
    train_text = chapters_text(corpus.train_chapters)
    t0 = time.time()
    tok = train_tokenizer(train_text, shape.vocab_size)
    if tok.get_vocab_size() != shape.vocab_size:
        # Possible only on a tiny corpus: use what the trainer produced.
        print(f"tokenizer has {tok.get_vocab_size()} tokens, not {shape.vocab_size}")
        shape = replace(shape, vocab_size=tok.get_vocab_size())
    write_tokenizer(tok, args.out, shape.n_ctx)
    # The model card refers to the held-out text; keeping it beside the weights makes the folder whole.
    shutil.copyfile(args.heldout, args.out / "heldout.txt")
    print(f"tokenizer: {tok.get_vocab_size()} tokens, trained in {time.time() - t0:.1f} s")

    data = build_token_data(tok, corpus, shape, settings, device)
    model = build_model(shape, data.bos_id, [data.eos_id, tok.token_to_id(IM_END)]).to(device)
    params = count_params(model)
    print(f"model: {params:,} parameters ({2 * params / 1e6:.1f} MB in bfloat16), "
          f"attention {getattr(model.config, '_attn_implementation', '?')}")
    add_dropout(model, settings.dropout)

    result = train(model, data, shape, settings, device)
    use_bf16 = device.type == "cuda"
    probe_nll, probe_count = evaluate(model, data.train_probe, device, use_bf16)

    gen_cfg = generation_config(data.bos_id, data.eos_id, tok.token_to_id(IM_END), max_new_tokens=128)
    save_model(model, args.out, gen_cfg, settings.max_shard_size)
    model_config = json.loads((args.out / "config.json").read_text(encoding="utf-8"))
    trained_state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
    del model
    print(f"saved: {', '.join(p.name for p in sorted(args.out.iterdir()))}")

    new_tokens = 24 if settings.smoke else 48
    checks = reload_and_check(args.out, trained_state, tok, corpus.heldout_text, shape, device, new_tokens)
    checks["train_probe_loss"] = probe_nll / max(probe_count, 1)
    write_reports(args.out, args, settings, shape, model_config, corpus, data, result, checks, params, wall_start,
                  device)

    print()
    print(f"final train loss (last {settings.log_every} steps, dropout on): "
          f"{result.curve[-1]['train_loss'] if result.curve else float('nan'):.4f}")
    print(f"train loss, eval mode (sample of training windows): {checks['train_probe_loss']:.4f}")
    print(f"validation loss: {result.best_val_loss:.4f} (step {result.best_step})")
    print(f"held-out loss: {checks['heldout_loss']:.4f}  perplexity: {checks['heldout_ppl']:.2f}  "
          f"bits/byte: {checks['heldout_bits_per_byte']:.3f}  ({checks['heldout_tokens']:,} tokens)")
    for prompt, text in checks["greedy"].items():
        print(f"greedy  | {prompt}{text}".replace("\n", "\n        | "))
    print(f"sampled | And God said{checks['sampled']['And God said']}".replace("\n", "\n        | "))
    print(f"chat    | user: {checks['chat']['user']}\n        | reply: {checks['chat']['reply']}")
    print(f"wall time {time.time() - wall_start:.1f} s; output in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
