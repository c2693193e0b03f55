//! Backbones (feature extractors) and a separate linear classifier head, so that domain
//! adaptation methods can reuse a backbone with other heads. Variables live under `backbone.*`
//! and `head.*` in the VarStore; backbone names follow torchvision/timm inside that prefix.
use tch::nn::{self, Module};
use tch::Tensor;

use super::error::TrainError;

mod layers;
pub mod mixer;
pub mod resnet;
pub mod vit;

/// A feature extractor: images N x 3 x S x S (normalised) -> N x `feature_dim()`.
pub trait Backbone: std::fmt::Debug + Send {
    fn features(&self, xs: &Tensor, train: bool) -> Tensor;
    fn feature_dim(&self) -> i64;
}

/// The linear classifier on top of the features.
#[derive(Debug)]
pub struct Head {
    linear: nn::Linear,
    pub num_classes: i64,
}

impl Head {
    pub fn new(p: nn::Path, in_dim: i64, num_classes: i64) -> Self {
        Head {
            linear: torch_linear(p, in_dim, num_classes),
            num_classes,
        }
    }

    pub fn forward(&self, features: &Tensor) -> Tensor {
        self.linear.forward(features)
    }

    pub fn linear(&self) -> &nn::Linear {
        &self.linear
    }
}

/// A linear layer initialised as torch's `nn.Linear`: weight and bias U(-1/sqrt(in), 1/sqrt(in))
/// (tch's default weight init is a Kaiming uniform about 2.4x wider).
pub fn torch_linear(p: nn::Path, in_dim: i64, out_dim: i64) -> nn::Linear {
    let bound = 1.0 / (in_dim.max(1) as f64).sqrt();
    let u = nn::Init::Uniform {
        lo: -bound,
        up: bound,
    };
    let cfg = nn::LinearConfig {
        ws_init: u,
        bs_init: Some(u),
        bias: true,
    };
    nn::linear(p, in_dim, out_dim, cfg)
}

/// Batch norm initialised as torch's: weight 1, bias 0 (tch's default weight is U(0, 1)).
pub fn torch_batch_norm1d(p: nn::Path, dim: i64) -> nn::BatchNorm {
    let cfg = nn::BatchNormConfig {
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    };
    nn::batch_norm1d(p, dim, cfg)
}

/// Backbone + head.
#[derive(Debug)]
pub struct Classifier {
    pub backbone: Box<dyn Backbone>,
    pub head: Head,
}

impl Classifier {
    /// Builds `arch` with its variables under `root / "backbone"` and `root / "head"`.
    pub fn new(
        root: &nn::Path,
        arch: &str,
        num_classes: i64,
        image_size: i64,
    ) -> Result<Self, TrainError> {
        let backbone = build_backbone(&(root / "backbone"), arch, image_size)?;
        let head = Head::new(root / "head", backbone.feature_dim(), num_classes);
        Ok(Classifier { backbone, head })
    }

    pub fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        self.head.forward(&self.backbone.features(xs, train))
    }
}

/// Architectures known by name (see `build_backbone`).
pub const ARCHS: &[&str] = &[
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet_tiny",
    "vit_tiny",
    "vit_s16",
    "vit_b16",
    "mixer_tiny",
    "mixer_s16",
    "mixer_b16",
    "mixer_l16",
];

/// Builds a backbone by name at input size `image_size`.
pub fn build_backbone(
    p: &nn::Path,
    arch: &str,
    image_size: i64,
) -> Result<Box<dyn Backbone>, TrainError> {
    let check_patch = |patch: i64| {
        if image_size % patch != 0 {
            Err(TrainError::BadImageSize {
                arch: arch.to_string(),
                size: image_size,
                why: format!("it must be a multiple of the patch size {patch}"),
            })
        } else {
            Ok(())
        }
    };
    Ok(match arch {
        "resnet18" => Box::new(resnet::ResNet::new(p, &resnet::ResNetConfig::resnet18())),
        "resnet34" => Box::new(resnet::ResNet::new(p, &resnet::ResNetConfig::resnet34())),
        "resnet50" => Box::new(resnet::ResNet::new(p, &resnet::ResNetConfig::resnet50())),
        "resnet_tiny" => Box::new(resnet::ResNet::new(p, &resnet::ResNetConfig::tiny())),
        a if a.starts_with("vit_") => {
            let cfg = match a {
                "vit_tiny" => vit::VitConfig::tiny(),
                "vit_s16" => vit::VitConfig::s16(),
                "vit_b16" => vit::VitConfig::b16(),
                _ => return Err(TrainError::UnknownArch(arch.to_string())),
            };
            check_patch(cfg.patch)?;
            Box::new(vit::Vit::new(p, &cfg, image_size))
        }
        a if a.starts_with("mixer_") => {
            let cfg = match a {
                "mixer_tiny" => mixer::MixerConfig::tiny(),
                "mixer_s16" => mixer::MixerConfig::s16(),
                "mixer_b16" => mixer::MixerConfig::b16(),
                "mixer_l16" => mixer::MixerConfig::l16(),
                _ => return Err(TrainError::UnknownArch(arch.to_string())),
            };
            check_patch(cfg.patch)?;
            Box::new(mixer::Mixer::new(p, &cfg, image_size))
        }
        _ => return Err(TrainError::UnknownArch(arch.to_string())),
    })
}

/// Number of trainable scalars (batch-norm running statistics excluded).
pub fn count_trainable(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}
