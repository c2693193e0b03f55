//! `synthgen study`: the paper's experiments as one command each. A spec (YAML, built in or a
//! file) declares datasets, training runs and tables; each stage is cached under the output
//! folder by the hash of its inputs; the report puts synthgen's numbers beside the paper's.
pub mod builtin;
pub mod cache;
pub mod error;
pub mod fit_stage;
pub mod report;
pub mod spec;
pub mod stages;
pub mod stats;
mod stream;
pub mod timing;

#[cfg(test)]
mod class_choice_tests;

pub use error::StudyError;
use std::path::{Path, PathBuf};

/// What `run_study` needs besides the spec.
pub struct StudyOptions {
    pub out: PathBuf,
    pub resume: bool,
    pub real: Option<PathBuf>,
    /// A weight file (torchvision ImageNet weights) that adaptations with `pretrained: true`
    /// start from instead of their `init` run.
    pub pretrained: Option<PathBuf>,
    /// The command line, for the report's provenance.
    pub command: String,
    pub show_progress: bool,
    /// Where `catalog: shapenet` datasets (the `full` scale) find ShapeNet.
    pub shapenet: crate::render::job::ShapeNetOptions,
}

/// The spec named by `name_or_path`: a file when it ends in .yaml/.yml or exists, else a
/// built-in study at `scale`. `sets` are `key=value` overrides of the spec.
pub fn load_spec(
    name_or_path: &str,
    scale: &str,
    sets: &[String],
) -> Result<spec::Spec, StudyError> {
    let path = Path::new(name_or_path);
    let (text, source) =
        if name_or_path.ends_with(".yaml") || name_or_path.ends_with(".yml") || path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|e| {
                StudyError::input(format!("cannot read the study spec {name_or_path}: {e}"))
            })?;
            (text, name_or_path.to_string())
        } else {
            let text = builtin::text(name_or_path, scale)?;
            (
                text.to_string(),
                format!("built-in study {name_or_path} ({scale})"),
            )
        };
    let source = if sets.is_empty() {
        source
    } else {
        format!("{source} with --set")
    };
    let text = spec::apply_sets(&text, &source, sets)?;
    spec::parse(&text, &source)
}

/// Plans (checking every input before anything is written), runs the stages that are not
/// done and writes the report. Returns the report's path.
pub fn run_study(
    spec: &spec::Spec,
    opts: &StudyOptions,
    say: impl FnMut(&str),
) -> Result<PathBuf, StudyError> {
    // Without --real, the optional real columns are left out (the report says so).
    let pruned;
    let spec = if opts.real.is_none() {
        pruned = spec.without_optional_real();
        &pruned
    } else {
        spec
    };
    let plan = stages::plan(
        spec,
        &opts.out,
        opts.real.as_deref(),
        opts.pretrained.as_deref(),
        opts.resume,
    )?;
    std::fs::create_dir_all(&opts.out).map_err(|e| StudyError::io(&opts.out, e))?;
    let mut say = say;
    say(&timing::estimate_line(&plan));
    let outcomes = stages::execute(&plan, opts.show_progress, &opts.shapenet, say)?;
    let report = report::build(spec, &plan, &outcomes, opts.command.clone());
    report::write(&report, &opts.out)?;
    Ok(opts.out.join("report.html"))
}
