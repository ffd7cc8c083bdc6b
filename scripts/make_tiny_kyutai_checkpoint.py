#!/usr/bin/env python
"""Write a small random-weight Kyutai STT checkpoint in the real on-disk format.

    python scripts/make_tiny_kyutai_checkpoint.py OUT_DIR [--seed 0]

OUT_DIR gets config.json (model_type "stt", stt_config, the names of the other files),
model.safetensors (the LM), mimi.safetensors and mimi_config.json (a narrow Mimi with the real
strides), and tokenizer.model (SentencePiece, trained here on a few sentences). The engine loads it
exactly as it loads kyutai/stt-1b-en_fr; it transcribes nothing meaningful, but every token it
emits goes through the real word assembly and reaches clients as captions.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from captioner.kyutai.checkpoint import lm_kwargs  # noqa: E402
from captioner.kyutai.presets import LM_PRESETS, TINY_MIMI  # noqa: E402
from captioner.kyutai.words import PAD, WORD_START  # noqa: E402

TEXT = """\
Good morning everyone and welcome to the weekly planning meeting.
The quarterly report is ready for review and the budget is approved.
We shipped the new build to the testing team this morning.
Please send the meeting notes to everyone before Friday afternoon.
Bonjour à tous, la réunion commence dans cinq minutes.
Thank you, I will book the large room for the design review.
Captions help everyone follow what is said in a meeting.
"""
VOCAB_SIZE = 96


def word_starts(model: bytes) -> set[int]:
    """Ids of the pieces that start a word (control and unknown pieces excluded)."""
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_proto=model)
    return {
        token
        for token in range(processor.vocab_size())
        if not (processor.is_control(token) or processor.is_unknown(token))
        and len(piece := processor.id_to_piece(token)) > 1
        and piece.startswith(WORD_START)
    }


def train_tokenizer() -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TEXT.splitlines() * 4),
        model_writer=model,
        vocab_size=VOCAB_SIZE,
        model_type="unigram",
        character_coverage=1.0,
        # Kyutai's ids: 0 <unk> (also the end-of-padding/word-boundary token), 3 the text pad.
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=3,
        minloglevel=2,
    )
    return model.getvalue()


PAD_SHARE = 0.6  # a real STT model emits pad most of the time, words in between


def calibration_audio(seconds: float = 4.0) -> np.ndarray:
    """Bursts of loud noise (speech-like) and silence, 24 kHz."""
    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * 24000)) / 24000
    envelope = (np.sin(2 * np.pi * 0.7 * t) > -0.2).astype(np.float32)
    return (0.2 * rng.standard_normal(len(t)) * envelope).astype(np.float32)


def pad_share(lm: object, mimi: object, audio: np.ndarray) -> float:
    import torch
    from moshi.models import LMGen

    gen = LMGen(lm, use_sampling=False, temp=0.0, temp_text=0.0)
    tokens = []
    with torch.no_grad(), mimi.streaming(1), gen.streaming(1):  # type: ignore[attr-defined]
        for start in range(0, len(audio) - 1919, 1920):
            frame = torch.from_numpy(audio[start : start + 1920])[None, None]
            out = gen.step(mimi.encode(frame))  # type: ignore[attr-defined]
            if out is not None:
                tokens.append(int(out[0, 0, 0]))
    return sum(1 for t in tokens if t == PAD) / max(1, len(tokens))


def calibrate_padding(lm: object, mimi: object) -> None:
    """Point the pad row of the text output along the model's mean hidden state, scaled so that
    pad wins about PAD_SHARE of the steps: words then come one at a time between pads, as with a
    real checkpoint, and every stage of word assembly is exercised."""
    import torch
    from moshi.utils.compile import no_compile

    audio = calibration_audio()
    weight = lm.text_linear.weight  # type: ignore[attr-defined]
    with torch.no_grad(), no_compile():
        hidden: list[torch.Tensor] = []
        hook = lm.out_norm.register_forward_hook(  # type: ignore[attr-defined]
            lambda _m, _i, output: hidden.append(output.reshape(-1, output.shape[-1]))
        )
        pad_share(lm, mimi, audio)
        hook.remove()
        mean = torch.cat(hidden).mean(dim=0)
        direction = mean / mean.norm()
        low, high = 0.0, 200.0
        for _ in range(10):
            scale = (low + high) / 2
            weight[PAD] = scale * direction
            if pad_share(lm, mimi, audio) < PAD_SHARE:
                low = scale
            else:
                high = scale
        weight[PAD] = high * direction


def write(out: Path, seed: int) -> None:
    import torch
    from moshi.models import loaders
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    config = dict(LM_PRESETS["tiny"])
    config |= {
        "moshi_name": "model.safetensors",
        "mimi_name": "mimi.safetensors",
        "mimi_config_name": "mimi_config.json",
        "tokenizer_name": "tokenizer.model",
        "model_id": {"name": "livecaptions-tiny-random", "seed": seed},
    }
    tokenizer = train_tokenizer()
    (out / "tokenizer.model").write_bytes(tokenizer)

    lm = loaders.get_moshi_lm(None, lm_kwargs=lm_kwargs(config), device="cpu", dtype=torch.float32)
    # Larger output weights than moshi's init, so that the random model's greedy text varies
    # with its audio input instead of settling on one token. Only pieces that start a word can
    # win (the others' rows are zero, below the best of the rest): the text is random words.
    winners = word_starts(tokenizer) | {PAD}
    with torch.no_grad():
        lm.text_linear.weight.mul_(8.0)
        for token in range(lm.text_linear.weight.shape[0]):
            if token not in winners:
                lm.text_linear.weight[token] = 0.0

    mimi = loaders.get_mimi(None, TINY_MIMI, device="cpu", num_codebooks=config["n_q"])
    # moshi builds its codebooks empty (learnt by k-means in training): every frame would get
    # code 0. Random codebooks make the codes, hence the text, depend on the audio.
    with torch.no_grad():
        for name, buffer in mimi.named_buffers():
            if name.endswith("_codebook.embedding_sum"):
                buffer.normal_(0.0, 0.05)
            elif name.endswith("_codebook._initialized"):
                buffer.fill_(1.0)
    calibrate_padding(lm, mimi)
    save_file({k: v.contiguous() for k, v in lm.state_dict().items()}, out / "model.safetensors")
    save_file({k: v.contiguous() for k, v in mimi.state_dict().items()}, out / "mimi.safetensors")
    (out / "mimi_config.json").write_text(json.dumps(TINY_MIMI, indent=2))
    (out / "config.json").write_text(json.dumps(config, indent=2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="directory to write (created if needed)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write(args.out, args.seed)
    print(f"tiny Kyutai STT checkpoint written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
