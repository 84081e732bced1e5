"""Writes a tiny Llama-architecture GGUF with random weights for timing a real llama-server.

Serving time depends on tensor shapes, not on weight values, so random weights give the same
step times as a trained model of this shape. The tokenizer is copied, key by key, from one of
llama.cpp's vocabulary-only GGUF files. The writing is done by the `gguf` package.

    python tiny_model.py --vocab ggml-vocab-llama-spm.gguf --out tiny.gguf
"""

import argparse

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter, LlamaFileType

# The model's shape: 57.9 M parameters, 117 MB in f16.
N_EMBD = 512
N_LAYERS = 8
N_HEAD = 8
N_HEAD_KV = 4
N_FF = 1536
N_CTX = 8192
HEAD_DIM = N_EMBD // N_HEAD

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def copy_field(writer: GGUFWriter, field) -> None:
    """Copies one metadata field verbatim; strings are copied as raw bytes."""
    kind = field.types[0]
    if kind == GGUFValueType.ARRAY:
        sub = field.types[-1]
        if sub == GGUFValueType.STRING:
            values = [bytes(field.parts[i]) for i in field.data]
        else:
            values = [field.parts[i].tolist()[0] for i in field.data]
        writer.add_key_value(field.name, values, kind, sub_type=sub)
    elif kind == GGUFValueType.STRING:
        writer.add_key_value(field.name, bytes(field.parts[field.data[0]]), kind)
    else:
        writer.add_key_value(field.name, field.parts[field.data[0]].tolist()[0], kind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vocab", required=True, help="a vocabulary-only GGUF from llama.cpp")
    parser.add_argument("--out", required=True, help="where to write the model")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    vocab = GGUFReader(args.vocab)
    tokens = vocab.fields["tokenizer.ggml.tokens"]
    n_vocab = len(tokens.data)

    writer = GGUFWriter(args.out, "llama")
    writer.add_name("lcsim tiny llama (random weights)")
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYERS)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_rope_dimension_count(HEAD_DIM)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(LlamaFileType.MOSTLY_F16)
    for name, field in vocab.fields.items():
        if name.startswith("tokenizer.") and name != "tokenizer.chat_template":
            copy_field(writer, field)
    writer.add_chat_template(CHATML)

    rng = np.random.default_rng(args.seed)

    def weight(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float16)

    def norm(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    n_kv = N_HEAD_KV * HEAD_DIM
    writer.add_tensor("token_embd.weight", weight(n_vocab, N_EMBD))
    for layer in range(N_LAYERS):
        prefix = f"blk.{layer}"
        writer.add_tensor(f"{prefix}.attn_norm.weight", norm(N_EMBD))
        writer.add_tensor(f"{prefix}.attn_q.weight", weight(N_EMBD, N_EMBD))
        writer.add_tensor(f"{prefix}.attn_k.weight", weight(n_kv, N_EMBD))
        writer.add_tensor(f"{prefix}.attn_v.weight", weight(n_kv, N_EMBD))
        writer.add_tensor(f"{prefix}.attn_output.weight", weight(N_EMBD, N_EMBD))
        writer.add_tensor(f"{prefix}.ffn_norm.weight", norm(N_EMBD))
        writer.add_tensor(f"{prefix}.ffn_gate.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(f"{prefix}.ffn_up.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(f"{prefix}.ffn_down.weight", weight(N_EMBD, N_FF))
    writer.add_tensor("output_norm.weight", norm(N_EMBD))
    writer.add_tensor("output.weight", weight(n_vocab, N_EMBD))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main()
