//! The start-up line that says which GPUs the bpy wheel's Cycles sees and where it renders.
use crate::scene::contract::Device;

/// GPU backends in the worker's order of preference (`scene.GPU_BACKENDS`), with their names.
const BACKENDS: [(&str, &str); 2] = [("optix", "OptiX"), ("cuda", "CUDA")];

/// One line from the worker's report (`{"optix": [names], "cuda": [names]}`, a backend this
/// Cycles build lacks left out) and the preset's `render.device`.
pub fn describe(seen_json: &str, requested: Device) -> String {
    let seen: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(seen_json).unwrap_or_default();
    let names = |key: &str| -> Option<Vec<String>> {
        seen.get(key).and_then(|v| v.as_array()).map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect()
        })
    };
    let mut parts = Vec::new();
    let mut first_gpu = None;
    for (key, label) in BACKENDS {
        match names(key) {
            None => parts.push(format!("{label}: not in this build")),
            Some(n) if n.is_empty() => parts.push(format!("{label}: none")),
            Some(n) => {
                first_gpu.get_or_insert(label);
                parts.push(format!("{label}: {}", n.join(", ")));
            }
        }
    }
    let on = match (requested, first_gpu) {
        (Device::Cpu, _) => "the CPU (render.device: cpu)".to_string(),
        (_, Some(label)) => format!("the GPU with {label}"),
        (Device::Auto, None) => "the CPU (render.device: auto, no GPU seen)".to_string(),
        // The worker refuses each request with the fix in its error.
        (Device::Gpu, None) => "no device: render.device is gpu but no GPU is seen".to_string(),
    };
    format!("Cycles sees {}; rendering on {on}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_gpu_renders_on_the_cpu() {
        assert_eq!(
            describe(r#"{"optix": [], "cuda": []}"#, Device::Auto),
            "Cycles sees OptiX: none; CUDA: none; rendering on the CPU (render.device: auto, no GPU seen)"
        );
    }

    #[test]
    fn the_first_backend_with_a_device_wins_unless_cpu_is_asked() {
        let seen = r#"{"optix": ["NVIDIA H100"], "cuda": ["NVIDIA H100"]}"#;
        assert_eq!(
            describe(seen, Device::Auto),
            "Cycles sees OptiX: NVIDIA H100; CUDA: NVIDIA H100; rendering on the GPU with OptiX"
        );
        assert!(describe(seen, Device::Cpu).ends_with("rendering on the CPU (render.device: cpu)"));
        let cuda_only = r#"{"cuda": ["A", "B"]}"#;
        assert_eq!(
            describe(cuda_only, Device::Gpu),
            "Cycles sees OptiX: not in this build; CUDA: A, B; rendering on the GPU with CUDA"
        );
    }
}
