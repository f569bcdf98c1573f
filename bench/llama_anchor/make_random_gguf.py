#!/usr/bin/env python3
"""Writes a random-weight F32 GGUF of blockscribe's small shape for llama.cpp's llama-bench.

The autoregressive anchor of docs/BENCHMARKS.md: a llama-architecture decoder of exactly the
story model's shape (vocab 4096, d 256, 6 layers, 4 heads, SwiGLU FFN 1024, RMSNorm, RoPE, F32),
so llama.cpp's token-by-token decode (tg) is the speed an autoregressive engine gets from a model
of the same size on the same CPU. The weights are random (the speed does not depend on them) and
the vocabulary is placeholder pieces. Needs numpy and llama.cpp's gguf-py:

  PYTHONPATH=LLAMA_CPP/gguf-py python3 bench/llama_anchor/make_random_gguf.py OUT.gguf
  LLAMA_CPP/build/bin/llama-bench -m OUT.gguf -p 0 -n 64 -t 1 -r 5
"""
import sys

import numpy as np
import gguf

V, D, LAYERS, HEADS, FFN, CTX = 4096, 256, 6, 4, 1024, 2048


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: make_random_gguf.py OUT.gguf")
    rng = np.random.default_rng(1)
    w = gguf.GGUFWriter(sys.argv[1], "llama")
    w.add_context_length(CTX)
    w.add_embedding_length(D)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(HEADS)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(D // HEADS)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("llama")
    tokens = [b"<unk>", b"<s>", b"</s>"] + [f"t{i}".encode() for i in range(3, V)]
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * V)
    w.add_token_types([gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
                      + [gguf.TokenType.NORMAL] * (V - 3))
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)

    def t(name: str, *shape: int) -> None:  # numpy (out, in): ggml's ne is (in, out)
        w.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))

    t("token_embd.weight", V, D)
    w.add_tensor("output_norm.weight", np.ones(D, dtype=np.float32))
    t("output.weight", V, D)
    for i in range(LAYERS):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(D, dtype=np.float32))
        for n in ("attn_q", "attn_k", "attn_v", "attn_output"):
            t(f"blk.{i}.{n}.weight", D, D)
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(D, dtype=np.float32))
        t(f"blk.{i}.ffn_gate.weight", FFN, D)
        t(f"blk.{i}.ffn_up.weight", FFN, D)
        t(f"blk.{i}.ffn_down.weight", D, FFN)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
