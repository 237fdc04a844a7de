"""Write a tiny random-weight llama GGUF with gguf-py from the pinned tree.

Byte-level SPM vocabulary (<unk>, <s>, </s>, 256 <0xNN> tokens, '▁'), 64-wide,
2 layers: about 470 KB, loads and generates in milliseconds.

    python tests/tiny_model.py GGUF_PY_DIR OUT.gguf
"""

import sys

N_EMBD, N_LAYER, N_HEAD, N_FF, N_CTX = 64, 2, 4, 128, 256


def vocabulary():
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + ["\u2581"]
    # gguf TokenType: NORMAL=1, UNKNOWN=2, CONTROL=3, BYTE=6
    types = [2, 3, 3] + [6] * 256 + [1]
    scores = [0.0] * len(tokens)
    return tokens, types, scores


def write_tiny_model(gguf_py_dir, out_path, seed=0, float_metadata=None):
    """float_metadata: extra {key: value} float32 entries (e.g. general.* facts, NaN included)."""
    sys.path.insert(0, gguf_py_dir)
    import numpy as np
    import gguf

    rng = np.random.default_rng(seed)
    tokens, types, scores = vocabulary()
    writer = gguf.GGUFWriter(out_path, "llama")
    writer.add_name("tiny-random-llama")
    for key, value in (float_metadata or {}).items():
        writer.add_float32(key, value)
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_scores(scores)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)

    def tensor(name, *shape):
        writer.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))

    n_vocab = len(tokens)
    tensor("token_embd.weight", n_vocab, N_EMBD)
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    tensor("output.weight", n_vocab, N_EMBD)
    for i in range(N_LAYER):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        for t in ("attn_q", "attn_k", "attn_v", "attn_output"):
            tensor(f"blk.{i}.{t}.weight", N_EMBD, N_EMBD)
        tensor(f"blk.{i}.ffn_gate.weight", N_FF, N_EMBD)
        tensor(f"blk.{i}.ffn_up.weight", N_FF, N_EMBD)
        tensor(f"blk.{i}.ffn_down.weight", N_EMBD, N_FF)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_path


if __name__ == "__main__":
    write_tiny_model(sys.argv[1], sys.argv[2])
