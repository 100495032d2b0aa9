"""Tiny zero-shot image classifiers: CLIP (softmax over the labels) and SigLIP (a sigmoid per label).

Both are built offline from configs with character-level tokenizers (no vocabulary files, no Hub):
CLIP reuses the OWL demo's CLIP BPE tokenizer (token 0 a plain character, EOS id 1); SigLIP gets
a ``tokenizers`` WordLevel model over characters behind ``PreTrainedTokenizerFast`` and, like
the real checkpoints, reads texts padded to 64 tokens. Random weights: the scores are noise, the
plumbing (prompt templates, softmax vs sigmoid, the leaderboard's zero-shot row) is real.
"""

from __future__ import annotations

from pathlib import Path

from tlweb.engine.demo import DemoModel, register, save_model, seed

TASK = "zero-shot-image-classification"
SIZE = 32  # input side in pixels
TEXT_LEN = 64  # positions of the text encoders (SigLIP's pipeline pads to 64)
CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-'.,&/()"


def _text_config(vocab_size: int, **extra) -> dict:
    return dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=TEXT_LEN, **extra)


def _vision_config() -> dict:
    return dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                image_size=SIZE, patch_size=8)


def clip_tokenizer():
    from tlweb.engine.demo.detection import tiny_clip_tokenizer

    tok = tiny_clip_tokenizer()
    tok.model_max_length = TEXT_LEN
    return tok


def siglip_tokenizer():
    """Characters as tokens (lower-cased), ``</s>`` appended, pad id 0."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, " ": 3}
    for c in CHARS:
        vocab.setdefault(c, len(vocab))
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.normalizer = normalizers.Lowercase()
    tk.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tk.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=TEXT_LEN)


def build_clip(folder: Path) -> None:
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    seed()
    tok = clip_tokenizer()
    text = _text_config(len(tok.get_vocab()), bos_token_id=2, eos_token_id=1, pad_token_id=1)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=_vision_config(), projection_dim=32))
    proc = CLIPImageProcessorPil(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})
    save_model(folder, model, CLIPProcessor(image_processor=proc, tokenizer=tok), SIZE)


def build_siglip(folder: Path) -> None:
    from transformers import SiglipConfig, SiglipImageProcessorPil, SiglipModel, SiglipProcessor

    seed()
    tok = siglip_tokenizer()
    text = _text_config(len(tok.get_vocab()), bos_token_id=1, eos_token_id=1, pad_token_id=0)
    model = SiglipModel(SiglipConfig(text_config=text, vision_config=_vision_config()))
    proc = SiglipImageProcessorPil(size={"height": SIZE, "width": SIZE})
    save_model(folder, model, SiglipProcessor(image_processor=proc, tokenizer=tok), SIZE)


for _key, _family, _fn, _how in (
    ("demo-clip", "clip", build_clip, "softmax over your labels"),
    ("demo-siglip", "siglip", build_siglip, "a sigmoid per label"),
):
    register(DemoModel(key=_key, family=_family, task=TASK, build=_fn,
                       description=f"Tiny random-weight {_family.upper() if _family == 'clip' else 'SigLIP'} "
                                   f"zero-shot classifier ({_how}; type any labels)"))
