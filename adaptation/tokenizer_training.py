"""Training a BPE tokenizer offline with the ``tokenizers`` library.

Used by ``l2v pretrain`` (the project's own small decoder) and by the tests'
tiny random models. Two styles cover the two families of real tokenizers:
``metaspace`` (Llama-2/Mistral/Gemma: sentencepiece-like, BOS prepended) and
``bytelevel`` (Llama-3/Qwen: GPT-2 byte-level, Qwen adds no BOS).
"""
from __future__ import annotations

from typing import Iterable

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<mask>"]


def train_bpe_tokenizer(lines: Iterable[str], vocab_size: int, style: str = "metaspace", add_bos: bool = True,
                        model_max_length: int = 512):
    """A ``PreTrainedTokenizerFast`` with <unk>=0 <s>=1 </s>=2 <pad>=3 <mask>=4."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if style == "metaspace":
        tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True))
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
        tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first")
    elif style == "bytelevel":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
    else:
        raise ValueError(f"unknown tokenizer style {style!r}")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(lines, trainer=trainer)
    if add_bos:
        bos = tok.token_to_id("<s>")
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                           special_tokens=[("<s>", bos)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        mask_token="<mask>", model_max_length=model_max_length, clean_up_tokenization_spaces=False,
        model_input_names=["input_ids", "attention_mask"],
    )
