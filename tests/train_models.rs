//! Model construction: parameter counts of the full-size models at 10 classes and 224 px match
//! the paper within 1 %, and the small variants run forward on the CPU.
#![cfg(feature = "train")]
use synthgen::nn::models::{count_trainable, Classifier};
use tch::{nn, Device, Kind, Tensor};

fn params(arch: &str) -> i64 {
    let vs = nn::VarStore::new(Device::Cpu);
    let _m = Classifier::new(&vs.root(), arch, 10, 224).unwrap();
    count_trainable(&vs)
}

#[test]
fn full_size_parameter_counts_match_the_paper() {
    for (arch, paper) in [
        ("resnet50", 23.53e6),
        ("vit_b16", 85.78e6),
        ("mixer_b16", 59.12e6),
    ] {
        let n = params(arch) as f64;
        assert!(
            (n - paper).abs() / paper < 0.01,
            "{arch}: {n} parameters, paper {paper}"
        );
    }
    // ResNet-18 at 10 classes: 11.18M (torchvision's 11.69M minus 990 head rows of 513).
    assert_eq!(params("resnet18"), 11_181_642);
}

#[test]
fn small_variants_run_forward_and_expose_features() {
    for arch in ["resnet_tiny", "vit_tiny", "mixer_tiny", "resnet18"] {
        let vs = nn::VarStore::new(Device::Cpu);
        let m = Classifier::new(&vs.root(), arch, 5, 32).unwrap();
        let xs = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
        let f = m.backbone.features(&xs, false);
        assert_eq!(f.size(), vec![2, m.backbone.feature_dim()], "{arch}");
        assert_eq!(m.forward(&xs, true).size(), vec![2, 5], "{arch}");
    }
    let vs = nn::VarStore::new(Device::Cpu);
    let e = Classifier::new(&vs.root(), "vit_b16", 5, 100)
        .unwrap_err()
        .to_string();
    assert!(e.contains("multiple of the patch size 16"), "{e}");
    let e = Classifier::new(&vs.root(), "vgg", 5, 32)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Unknown architecture `vgg`"), "{e}");
}
