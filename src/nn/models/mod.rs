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

/// Checks that `arch` is known and takes `image_size` x `image_size` inputs: a ViT or Mixer
/// needs a positive multiple of its patch; a ResNet needs the side its layers' kernels and
/// paddings allow ([`resnet::ResNetConfig::min_image_size`], 1 pixel for every ResNet here).
/// Callers run it before any work starts.
pub fn check_image_size(arch: &str, image_size: i64) -> Result<(), TrainError> {
    let bad = |why: String| TrainError::BadImageSize {
        arch: arch.to_string(),
        size: image_size,
        why,
    };
    let patch = match arch {
        a if a.starts_with("resnet") => {
            let min = resnet_config(a)
                .ok_or_else(|| TrainError::UnknownArch(arch.to_string()))?
                .min_image_size();
            if image_size < min {
                return Err(bad(format!(
                    "its convolutions need at least {min} pixel(s); use e.g. --image-size 224"
                )));
            }
            return Ok(());
        }
        a if a.starts_with("vit_") => vit_config(a).map(|c| c.patch),
        a if a.starts_with("mixer_") => mixer_config(a).map(|c| c.patch),
        _ => None,
    }
    .ok_or_else(|| TrainError::UnknownArch(arch.to_string()))?;
    if image_size < patch || image_size % patch != 0 {
        let up = (image_size.max(1) + patch - 1) / patch * patch;
        return Err(bad(format!(
            "it must be a positive multiple of the patch size {patch}; use e.g. --image-size {up}"
        )));
    }
    Ok(())
}

fn resnet_config(arch: &str) -> Option<resnet::ResNetConfig> {
    Some(match arch {
        "resnet18" => resnet::ResNetConfig::resnet18(),
        "resnet34" => resnet::ResNetConfig::resnet34(),
        "resnet50" => resnet::ResNetConfig::resnet50(),
        "resnet_tiny" => resnet::ResNetConfig::tiny(),
        _ => return None,
    })
}

fn vit_config(arch: &str) -> Option<vit::VitConfig> {
    Some(match arch {
        "vit_tiny" => vit::VitConfig::tiny(),
        "vit_s16" => vit::VitConfig::s16(),
        "vit_b16" => vit::VitConfig::b16(),
        _ => return None,
    })
}

fn mixer_config(arch: &str) -> Option<mixer::MixerConfig> {
    Some(match arch {
        "mixer_tiny" => mixer::MixerConfig::tiny(),
        "mixer_s16" => mixer::MixerConfig::s16(),
        "mixer_b16" => mixer::MixerConfig::b16(),
        "mixer_l16" => mixer::MixerConfig::l16(),
        _ => return None,
    })
}

/// Builds a backbone by name at input size `image_size`.
pub fn build_backbone(
    p: &nn::Path,
    arch: &str,
    image_size: i64,
) -> Result<Box<dyn Backbone>, TrainError> {
    check_image_size(arch, image_size)?;
    let unknown = || TrainError::UnknownArch(arch.to_string());
    Ok(match arch {
        a if a.starts_with("resnet") => Box::new(resnet::ResNet::new(
            p,
            &resnet_config(a).ok_or_else(unknown)?,
        )),
        a if a.starts_with("vit_") => Box::new(vit::Vit::new(
            p,
            &vit_config(a).ok_or_else(unknown)?,
            image_size,
        )),
        a if a.starts_with("mixer_") => Box::new(mixer::Mixer::new(
            p,
            &mixer_config(a).ok_or_else(unknown)?,
            image_size,
        )),
        _ => return Err(unknown()),
    })
}

/// Number of trainable scalars (batch-norm running statistics excluded).
pub fn count_trainable(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// The computed minimum is what libtorch accepts: a ResNet runs at it (the 7 x 7 stem with
    /// padding 3 is the tightest layer: 0 pixels pad to 6, less than its kernel).
    #[test]
    fn resnet_minimum_is_computed_from_the_layers() {
        for arch in ["resnet18", "resnet34", "resnet50", "resnet_tiny"] {
            assert_eq!(resnet_config(arch).unwrap().min_image_size(), 1, "{arch}");
            assert!(check_image_size(arch, 0).is_err());
            assert!(check_image_size(arch, 1).is_ok());
        }
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = build_backbone(&vs.root(), "resnet_tiny", 1).unwrap();
        let y = net.features(&Tensor::zeros([2, 3, 1, 1], tch::kind::FLOAT_CPU), true);
        assert_eq!(y.size(), [2, net.feature_dim()]);
    }

    #[test]
    fn patch_models_need_a_positive_multiple_of_the_patch() {
        assert!(check_image_size("vit_tiny", 8).is_ok());
        assert!(check_image_size("vit_tiny", 0).is_err());
        assert!(check_image_size("vit_tiny", 12).is_err());
        assert!(check_image_size("mixer_b16", 224).is_ok());
        assert!(check_image_size("mixer_b16", 8).is_err());
        assert!(matches!(
            check_image_size("vgg16", 224),
            Err(TrainError::UnknownArch(_))
        ));
    }
}
