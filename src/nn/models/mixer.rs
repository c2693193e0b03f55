//! MLP-Mixer (Tolstikhin et al. 2021) with timm variable names. Token-mixing MLPs have hidden
//! size `token_expansion * dim` and channel-mixing MLPs `channel_expansion * dim` (0.5 and 4 in
//! the paper's S/B/L models); the features are the token mean after the final LayerNorm.
use tch::nn::{self, Module};
use tch::Tensor;

use super::layers::{layer_norm, linear};
use super::Backbone;

#[derive(Debug, Clone)]
pub struct MixerConfig {
    pub patch: i64,
    pub dim: i64,
    pub depth: i64,
    pub token_expansion: f64,
    pub channel_expansion: f64,
}

impl MixerConfig {
    fn sized(dim: i64, depth: i64) -> Self {
        MixerConfig {
            patch: 16,
            dim,
            depth,
            token_expansion: 0.5,
            channel_expansion: 4.0,
        }
    }
    pub fn s16() -> Self {
        Self::sized(512, 8)
    }
    pub fn b16() -> Self {
        Self::sized(768, 12)
    }
    pub fn l16() -> Self {
        Self::sized(1024, 24)
    }
    /// For CPU tests at 32 px.
    pub fn tiny() -> Self {
        MixerConfig {
            patch: 8,
            ..Self::sized(64, 2)
        }
    }
}

#[derive(Debug)]
struct Mlp {
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl Mlp {
    fn new(p: &nn::Path, dim: i64, hidden: i64) -> Self {
        Mlp {
            fc1: linear(p / "fc1", dim, hidden),
            fc2: linear(p / "fc2", hidden, dim),
        }
    }
    fn forward(&self, xs: &Tensor) -> Tensor {
        self.fc2.forward(&self.fc1.forward(xs).gelu("none"))
    }
}

#[derive(Debug)]
struct Block {
    norm1: nn::LayerNorm,
    mlp_tokens: Mlp,
    norm2: nn::LayerNorm,
    mlp_channels: Mlp,
}

#[derive(Debug)]
pub struct Mixer {
    stem: nn::Conv2D,
    blocks: Vec<Block>,
    norm: nn::LayerNorm,
    dim: i64,
}

impl Mixer {
    pub fn new(p: &nn::Path, c: &MixerConfig, image_size: i64) -> Self {
        let tokens = (image_size / c.patch).pow(2);
        let token_hidden = (c.token_expansion * c.dim as f64) as i64;
        let channel_hidden = (c.channel_expansion * c.dim as f64) as i64;
        let conv = nn::ConvConfig {
            stride: c.patch,
            ..Default::default()
        };
        let blocks = (0..c.depth)
            .map(|i| {
                let bp = p / "blocks" / i;
                Block {
                    norm1: layer_norm(&bp / "norm1", c.dim),
                    mlp_tokens: Mlp::new(&(&bp / "mlp_tokens"), tokens, token_hidden),
                    norm2: layer_norm(&bp / "norm2", c.dim),
                    mlp_channels: Mlp::new(&(&bp / "mlp_channels"), c.dim, channel_hidden),
                }
            })
            .collect();
        Mixer {
            stem: nn::conv2d(p / "stem" / "proj", 3, c.dim, c.patch, conv),
            blocks,
            norm: layer_norm(p / "norm", c.dim),
            dim: c.dim,
        }
    }
}

impl Backbone for Mixer {
    fn features(&self, xs: &Tensor, _train: bool) -> Tensor {
        // B x C x H x W -> B x T x C
        let mut ys = xs.apply(&self.stem).flatten(2, -1).transpose(1, 2);
        for b in &self.blocks {
            let t = b
                .mlp_tokens
                .forward(&ys.apply(&b.norm1).transpose(1, 2))
                .transpose(1, 2);
            ys = &ys + t;
            ys = &ys + b.mlp_channels.forward(&ys.apply(&b.norm2));
        }
        ys.apply(&self.norm).mean_dim(1, false, None)
    }

    fn feature_dim(&self) -> i64 {
        self.dim
    }
}
