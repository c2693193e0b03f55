//! Vision Transformer (Dosovitskiy et al. 2021) with timm variable names: patch embedding,
//! class token, learned position embedding, pre-norm blocks, final LayerNorm; the features are
//! the class token's output. Dropout follows the original (after the position embedding, the
//! attention projection and both MLP layers).
use tch::nn::{self, Module};
use tch::Tensor;

use super::layers::{layer_norm, linear};
use super::Backbone;

#[derive(Debug, Clone)]
pub struct VitConfig {
    pub patch: i64,
    pub dim: i64,
    pub depth: i64,
    pub heads: i64,
    pub mlp_dim: i64,
    pub dropout: f64,
}

impl VitConfig {
    pub fn b16() -> Self {
        VitConfig {
            patch: 16,
            dim: 768,
            depth: 12,
            heads: 12,
            mlp_dim: 3072,
            dropout: 0.1,
        }
    }
    pub fn s16() -> Self {
        VitConfig {
            patch: 16,
            dim: 384,
            depth: 12,
            heads: 6,
            mlp_dim: 1536,
            dropout: 0.1,
        }
    }
    /// For CPU tests at 32 px.
    pub fn tiny() -> Self {
        VitConfig {
            patch: 8,
            dim: 64,
            depth: 2,
            heads: 2,
            mlp_dim: 128,
            dropout: 0.0,
        }
    }
}

#[derive(Debug)]
struct Block {
    norm1: nn::LayerNorm,
    qkv: nn::Linear,
    proj: nn::Linear,
    norm2: nn::LayerNorm,
    fc1: nn::Linear,
    fc2: nn::Linear,
    heads: i64,
    dropout: f64,
}

impl Block {
    fn new(p: &nn::Path, c: &VitConfig) -> Self {
        Block {
            norm1: layer_norm(p / "norm1", c.dim),
            qkv: linear(p / "attn" / "qkv", c.dim, 3 * c.dim),
            proj: linear(p / "attn" / "proj", c.dim, c.dim),
            norm2: layer_norm(p / "norm2", c.dim),
            fc1: linear(p / "mlp" / "fc1", c.dim, c.mlp_dim),
            fc2: linear(p / "mlp" / "fc2", c.mlp_dim, c.dim),
            heads: c.heads,
            dropout: c.dropout,
        }
    }

    fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        let (b, t, d) = xs.size3().expect("tokens are B x T x D");
        let hd = d / self.heads;
        let qkv = self
            .qkv
            .forward(&xs.apply(&self.norm1))
            .view([b, t, 3, self.heads, hd])
            .permute([2, 0, 3, 1, 4]);
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2));
        // Fused attention (flash / memory-efficient kernels on CUDA).
        let att = Tensor::scaled_dot_product_attention::<Tensor>(
            &q,
            &k,
            &v,
            None,
            0.0,
            false,
            None::<f64>,
            false,
        )
        .transpose(1, 2)
        .reshape([b, t, d]);
        let xs = xs + self.proj.forward(&att).dropout(self.dropout, train);
        let ys = self
            .fc1
            .forward(&xs.apply(&self.norm2))
            .gelu("none")
            .dropout(self.dropout, train);
        &xs + self.fc2.forward(&ys).dropout(self.dropout, train)
    }
}

#[derive(Debug)]
pub struct Vit {
    patch_embed: nn::Conv2D,
    cls_token: Tensor,
    pos_embed: Tensor,
    blocks: Vec<Block>,
    norm: nn::LayerNorm,
    dim: i64,
    dropout: f64,
}

impl Vit {
    pub fn new(p: &nn::Path, c: &VitConfig, image_size: i64) -> Self {
        let tokens = (image_size / c.patch).pow(2) + 1;
        let conv = nn::ConvConfig {
            stride: c.patch,
            ..Default::default()
        };
        let init = nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        Vit {
            patch_embed: nn::conv2d(p / "patch_embed" / "proj", 3, c.dim, c.patch, conv),
            cls_token: p.var("cls_token", &[1, 1, c.dim], nn::Init::Const(0.0)),
            pos_embed: p.var("pos_embed", &[1, tokens, c.dim], init),
            blocks: (0..c.depth)
                .map(|i| Block::new(&(p / "blocks" / i), c))
                .collect(),
            norm: layer_norm(p / "norm", c.dim),
            dim: c.dim,
            dropout: c.dropout,
        }
    }
}

impl Backbone for Vit {
    fn features(&self, xs: &Tensor, train: bool) -> Tensor {
        let patches = xs.apply(&self.patch_embed).flatten(2, -1).transpose(1, 2);
        let b = patches.size()[0];
        let cls = self.cls_token.expand([b, 1, self.dim], false);
        let mut ys =
            (Tensor::cat(&[cls, patches], 1) + &self.pos_embed).dropout(self.dropout, train);
        for blk in &self.blocks {
            ys = blk.forward(&ys, train);
        }
        ys.apply(&self.norm).select(1, 0)
    }

    fn feature_dim(&self) -> i64 {
        self.dim
    }
}
