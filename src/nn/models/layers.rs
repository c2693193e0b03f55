//! Layer constructors shared by the transformer-style models (ViT, MLP-Mixer): the timm-like
//! initialisation (weights N(0, 0.02), zero bias) and LayerNorm with eps 1e-6.
use tch::nn;

pub(super) fn linear(p: nn::Path, i: i64, o: i64) -> nn::Linear {
    let cfg = nn::LinearConfig {
        ws_init: nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        },
        bs_init: Some(nn::Init::Const(0.0)),
        bias: true,
    };
    nn::linear(p, i, o, cfg)
}

pub(super) fn layer_norm(p: nn::Path, dim: i64) -> nn::LayerNorm {
    let cfg = nn::LayerNormConfig {
        eps: 1e-6,
        ..Default::default()
    };
    nn::layer_norm(p, vec![dim], cfg)
}
