//! The probe side of a fit: `pool` loads a rendered probe (its images and their levels), `run`
//! describes the target and the probes and runs one fit round, `job` runs a whole fit (probe
//! renders, rounds, refinement, per-class step, outputs) for the command and the study.
pub mod job;
pub mod pool;
pub mod run;
