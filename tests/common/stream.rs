//! Helpers of the streamed-run tests (`train --stream`, `adapt --stream`): the shared tiny
//! render settings, the reference render a stream is compared with, and waiting on a child.
use super::{synthgen, text};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Preset overrides shared by the reference render and the streams: 32 px, fast Cycles.
pub const SETS: [&str; 6] = [
    "render.resolution=32",
    "render.samples=4",
    "render.denoise=false",
    "validate.min_coverage=0.005",
    "classes=[chair, table]",
    "workers.count=2",
];

/// The synthgen binary with the fixture Sweet Home 3D catalog in `archives`.
pub fn command(scratch: &Path, archives: &Path) -> Command {
    let mut c = synthgen(scratch);
    c.env("SYNTHGEN_SWEETHOME3D", archives);
    c
}

/// `--set` pairs for every entry of [`SETS`].
pub fn set_args() -> Vec<String> {
    SETS.iter()
        .flat_map(|s| ["--set".to_string(), s.to_string()])
        .collect()
}

/// `synthgen render --preset demo` of `per_class` images per class into `out`, with [`SETS`]:
/// what a stream of the same preset must reproduce.
pub fn render_reference(scratch: &Path, archives: &Path, per_class: u32, out: &Path) {
    let o = command(scratch, archives)
        .args(["render", "--preset", "demo", "--per-class"])
        .arg(per_class.to_string())
        .arg("--out")
        .arg(out)
        .args(set_args())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

pub fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

/// PNG files anywhere under `dir` (0 when it does not exist).
pub fn count_pngs(dir: &Path) -> usize {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
        .count()
}

/// Waits until `ready` holds while `child` still runs (panics if it ended first).
pub fn wait_while_running(
    child: &mut std::process::Child,
    what: &str,
    mut ready: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
