"""Model sizes of Kyutai's delayed-streams STT, as config.json values.

`stt-1b` and `stt-2.6b` are the published sizes (kyutai/stt-1b-en_fr, kyutai/stt-2.6b-en): the
benchmark builds them from random weights, since speed does not depend on the weight values.
`tiny` is what the tests use: the same architecture and on-disk format, small enough for a CPU.
"""

from __future__ import annotations

from typing import Any

# Shared by every STT size: text-only output (dep_q 0), no delays between codebooks (the text's
# delay behind the audio is in `stt_config.audio_delay_seconds`), pad 3 and end-of-padding 0.
_STT_COMMON: dict[str, Any] = {
    "model_type": "stt",
    "dep_q": 0,
    "card": 2048,
    "existing_text_padding_id": 3,
    "hidden_scale": 4.125,
    "causal": True,
    "layer_scale": None,
    "max_period": 100000,
    "gating": "silu",
    "norm": "rms_norm_f32",
    "positional_embedding": "rope",
    "depformer_dim": 1024,
    "depformer_num_heads": 16,
    "depformer_num_layers": 6,
    "depformer_multi_linear": True,
    "depformer_pos_emb": "none",
    "depformer_weights_per_step": True,
}


def _stt(n_q: int, **values: Any) -> dict[str, Any]:
    return _STT_COMMON | {"n_q": n_q, "delays": [0] * (n_q + 1)} | values


LM_PRESETS: dict[str, dict[str, Any]] = {
    "stt-1b": _stt(
        32,
        dim=2048,
        num_heads=16,
        num_layers=16,
        text_card=8000,
        context=750,
        extra_heads_num_heads=4,
        extra_heads_dim=6,
        stt_config={"audio_delay_seconds": 0.5, "audio_silence_prefix_seconds": 0.0},
    ),
    "stt-2.6b": _stt(
        32,
        dim=2560,
        num_heads=20,
        num_layers=24,
        text_card=4000,
        context=375,
        stt_config={"audio_delay_seconds": 2.5, "audio_silence_prefix_seconds": 1.0},
    ),
    "tiny": _stt(
        8,
        card=64,
        dim=64,
        num_heads=4,
        num_layers=2,
        text_card=96,  # the tiny SentencePiece vocabulary
        context=250,
        depformer_dim=32,
        depformer_num_heads=2,
        depformer_num_layers=1,
        extra_heads_num_heads=4,
        extra_heads_dim=6,
        stt_config={"audio_delay_seconds": 0.5, "audio_silence_prefix_seconds": 0.0},
    ),
}

# Mimi for the tiny checkpoint (`mimi_config_name`): the real strides (24 kHz in, 12.5 Hz codes
# out) with narrow layers. Real checkpoints use moshi's built-in Mimi configuration.
TINY_MIMI: dict[str, Any] = {
    "sample_rate": 24000,
    "channels": 1,
    "frame_rate": 12.5,
    "seanet": {
        "channels": 1,
        "dimension": 32,
        "causal": True,
        "n_filters": 4,
        "n_residual_layers": 1,
        "activation": "ELU",
        "compress": 2,
        "dilation_base": 2,
        "disable_norm_outer_blocks": 0,
        "kernel_size": 7,
        "residual_kernel_size": 3,
        "last_kernel_size": 3,
        "norm": "none",
        "pad_mode": "constant",
        "ratios": [8, 6, 5, 4],
        "true_skip": True,
    },
    "quantizer": {
        "dimension": 16,
        "n_q": 8,
        "bins": 64,
        "input_dimension": 32,
        "output_dimension": 32,
    },
    "transformer": {
        "d_model": 32,
        "num_heads": 2,
        "num_layers": 1,
        "causal": True,
        "layer_scale": 0.01,
        "context": 250,
        "conv_layout": True,
        "max_period": 10000,
        "gating": "none",
        "norm": "layer_norm",
        "positional_embedding": "rope",
        "dim_feedforward": 64,
        "input_dimension": 32,
        "output_dimensions": [32],
    },
}
