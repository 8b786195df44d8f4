"""Writing real GGUF files in tests, the way llama.cpp's convert_hf_to_gguf.py does (no network).

A tiny random Llama with a byte-level BPE tokenizer is written with the ``gguf`` package:
llama.cpp's tensor names, its q/k row permutation, the tokenizer as GGUF metadata, and any
tensor type the ``gguf`` package can quantize to. Converting it back must give the original
weights (exactly for F32, approximately for quantized types).
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

TENSOR_NAMES = {  # transformers (Llama) -> llama.cpp
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
}


def build_tiny_hf(out_dir: Path, seed: int = 0) -> Path:
    """A tiny random LlamaForCausalLM (hidden 64, 2 layers, GQA 4/2) with a byte-level BPE tokenizer."""
    import transformers as tf

    from adaptation.tiny import BUILTIN_CORPUS
    from adaptation.tokenizer_training import train_bpe_tokenizer

    tokenizer = train_bpe_tokenizer(BUILTIN_CORPUS, 400, style="bytelevel", add_bos=True)
    config = tf.LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                            rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, pad_token_id=3,
                            tie_word_embeddings=False, initializer_range=0.1)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = tf.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir)


def _permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's q/k row order (rotary halves interleaved); transformers reverses it on load."""
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def write_gguf(hf_dir: Path, out: Path, tensor_type: str = "F32", architecture: str = "llama",
               raw_tensor_type: str | None = None) -> Path:
    """Write ``hf_dir`` (a tiny Llama) as GGUF; 2-D weights in ``tensor_type`` (norms stay F32).

    ``raw_tensor_type`` writes one weight as zero bytes of that type instead (a type the
    gguf package may have no de-quantizer for), and ``architecture`` overrides the declared one.
    """
    import json

    import gguf
    from safetensors.torch import load_file
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(hf_dir)
    weights = {k: v.float().numpy() for k, v in load_file(str(Path(hf_dir) / "model.safetensors")).items()}
    writer = gguf.GGUFWriter(str(out), architecture)
    writer.add_name("tiny-llama")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_vocab_size(config.vocab_size)

    tokenizer = json.loads((Path(hf_dir) / "tokenizer.json").read_text())
    vocab = {**tokenizer["model"]["vocab"], **{t["content"]: t["id"] for t in tokenizer["added_tokens"]}}
    tokens = [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]
    special = {t["id"] for t in tokenizer["added_tokens"] if t.get("special")}
    merges = [m if isinstance(m, str) else " ".join(m) for m in tokenizer["model"]["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL
                            for i in range(len(tokens))])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(config.bos_token_id)
    writer.add_eos_token_id(config.eos_token_id)
    writer.add_pad_token_id(config.pad_token_id)
    writer.add_add_bos_token(True)

    kind = gguf.GGMLQuantizationType[tensor_type]

    def add(name: str, data: np.ndarray, raw: str | None = None) -> None:
        if raw is not None:
            raw_kind = gguf.GGMLQuantizationType[raw]
            block, size = gguf.GGML_QUANT_SIZES[raw_kind]
            writer.add_tensor(name, np.zeros((data.shape[0], data.shape[1] // block * size), dtype=np.uint8),
                              raw_dtype=raw_kind)
        elif data.ndim == 2 and kind != gguf.GGMLQuantizationType.F32:
            writer.add_tensor(name, gguf.quants.quantize(data.astype(np.float32), kind), raw_dtype=kind)
        else:
            writer.add_tensor(name, data.astype(np.float32))

    add("token_embd.weight", weights["model.embed_tokens.weight"])
    add("output_norm.weight", weights["model.norm.weight"])
    add("output.weight", weights["lm_head.weight"])
    for layer in range(config.num_hidden_layers):
        for hf_name, cpp_name in TENSOR_NAMES.items():
            data = weights[f"model.layers.{layer}.{hf_name}.weight"]
            if cpp_name == "attn_q":
                data = _permute(data, config.num_attention_heads)
            elif cpp_name == "attn_k":
                data = _permute(data, config.num_key_value_heads)
            raw = raw_tensor_type if (layer == 0 and cpp_name == "attn_v") else None
            add(f"blk.{layer}.{cpp_name}.weight", data, raw)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(out)


def write_wheel(out_dir: Path, dist: str, version: str, members: dict[str, Path]) -> Path:
    """A minimal valid wheel holding ``members`` (archive name -> local file), for pip to find locally."""
    import base64
    import hashlib

    name = dist.replace("-", "_")
    wheel = Path(out_dir) / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {arc: Path(path).read_bytes() for arc, path in members.items()}
    files[f"{name}/__init__.py"] = b""
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: l2v-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    for arc, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{arc},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for arc, data in files.items():
            archive.writestr(arc, data)
    return wheel
