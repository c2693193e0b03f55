//! ResNet backbones (basic and bottleneck blocks) with torchvision variable names and
//! initialisation (Kaiming normal, fan-out for convolutions; batch-norm weight 1, bias 0).
//! A width multiplier gives small variants for CPU tests.
use tch::nn;
use tch::Tensor;

use super::Backbone;

#[derive(Debug, Clone)]
pub struct ResNetConfig {
    pub blocks: [i64; 4],
    pub bottleneck: bool,
    /// Width of the stem and first stage (64 in the standard models).
    pub base_width: i64,
}

impl ResNetConfig {
    pub fn resnet18() -> Self {
        ResNetConfig {
            blocks: [2, 2, 2, 2],
            bottleneck: false,
            base_width: 64,
        }
    }
    pub fn resnet34() -> Self {
        ResNetConfig {
            blocks: [3, 4, 6, 3],
            bottleneck: false,
            base_width: 64,
        }
    }
    pub fn resnet50() -> Self {
        ResNetConfig {
            blocks: [3, 4, 6, 3],
            bottleneck: true,
            base_width: 64,
        }
    }
    /// A ResNet-10-like model at 1/4 width for tests.
    pub fn tiny() -> Self {
        ResNetConfig {
            blocks: [1, 1, 1, 1],
            bottleneck: false,
            base_width: 16,
        }
    }
}

fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding: k / 2,
        bias: false,
        ws_init: nn::Init::Kaiming {
            dist: nn::init::NormalOrUniform::Normal,
            fan: nn::init::FanInOut::FanOut,
            non_linearity: nn::init::NonLinearity::ReLU,
        },
        ..Default::default()
    };
    nn::conv2d(p, c_in, c_out, k, cfg)
}

/// Batch norm as torchvision initialises it: weight 1, bias 0 (tch's default weight is U(0, 1)).
fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    let cfg = nn::BatchNormConfig {
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    };
    nn::batch_norm2d(p, c, cfg)
}

#[derive(Debug)]
struct Block {
    convs: Vec<nn::Conv2D>,
    bns: Vec<nn::BatchNorm>,
    down: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl Block {
    fn new(p: &nn::Path, c_in: i64, width: i64, stride: i64, bottleneck: bool) -> (Self, i64) {
        let (specs, c_out): (Vec<(i64, i64, i64, i64)>, i64) = if bottleneck {
            // torchvision v1.5: the stride sits on the 3 x 3 convolution.
            (
                vec![
                    (c_in, width, 1, 1),
                    (width, width, 3, stride),
                    (width, width * 4, 1, 1),
                ],
                width * 4,
            )
        } else {
            (vec![(c_in, width, 3, stride), (width, width, 3, 1)], width)
        };
        let mut convs = Vec::new();
        let mut bns = Vec::new();
        for (i, (ci, co, k, s)) in specs.into_iter().enumerate() {
            convs.push(conv(p / format!("conv{}", i + 1), ci, co, k, s));
            bns.push(bn(p / format!("bn{}", i + 1), co));
        }
        let down = (stride != 1 || c_in != c_out).then(|| {
            let d = p / "downsample";
            (conv(&d / "0", c_in, c_out, 1, stride), bn(&d / "1", c_out))
        });
        (Block { convs, bns, down }, c_out)
    }

    /// The ReLUs and the residual sum run in place, as torchvision's do: batch norm keeps its
    /// input, not its output, for the backward pass, and a fresh activation buffer per ReLU and
    /// sum costs a page-faulted allocation that grows with the image size.
    fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut ys = xs.shallow_clone();
        let last = self.convs.len() - 1;
        for (i, (c, b)) in self.convs.iter().zip(&self.bns).enumerate() {
            ys = ys.apply(c).apply_t(b, train);
            if i < last {
                let _ = ys.relu_();
            }
        }
        match &self.down {
            Some((c, b)) => ys += xs.apply(c).apply_t(b, train),
            None => ys += xs,
        };
        let _ = ys.relu_();
        ys
    }
}

#[derive(Debug)]
pub struct ResNet {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    blocks: Vec<Block>,
    dim: i64,
}

impl ResNet {
    pub fn new(p: &nn::Path, cfg: &ResNetConfig) -> Self {
        let w = cfg.base_width;
        let stem = nn::ConvConfig {
            stride: 2,
            padding: 3,
            bias: false,
            ws_init: nn::Init::Kaiming {
                dist: nn::init::NormalOrUniform::Normal,
                fan: nn::init::FanInOut::FanOut,
                non_linearity: nn::init::NonLinearity::ReLU,
            },
            ..Default::default()
        };
        let conv1 = nn::conv2d(p / "conv1", 3, w, 7, stem);
        let bn1 = bn(p / "bn1", w);
        let mut blocks = Vec::new();
        let mut c_in = w;
        for (stage, &n) in cfg.blocks.iter().enumerate() {
            let width = w << stage;
            for i in 0..n {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                let bp = p / format!("layer{}", stage + 1) / i;
                let (block, c_out) = Block::new(&bp, c_in, width, stride, cfg.bottleneck);
                blocks.push(block);
                c_in = c_out;
            }
        }
        ResNet {
            conv1,
            bn1,
            blocks,
            dim: c_in,
        }
    }
}

impl Backbone for ResNet {
    fn features(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut stem = xs.apply(&self.conv1).apply_t(&self.bn1, train);
        let _ = stem.relu_();
        let mut ys = stem.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        for b in &self.blocks {
            ys = b.forward(&ys, train);
        }
        ys.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }

    fn feature_dim(&self) -> i64 {
        self.dim
    }
}
