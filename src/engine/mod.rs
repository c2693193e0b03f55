//! The one training engine of `synthgen train` and `synthgen adapt` (docs/DESIGN.md,
//! "Training engine"): `run` (the loop: resume, schedule, epoch hooks, evaluation cadence,
//! best/last, checkpoints, plots), `step` (the `Method` trait that supervised training and every
//! adaptation method implement, and `Trainee`, which holds a method's model and optimizers and
//! runs it as the engine's `TrainStep`), `schedule` (lr and lambda per iteration or per epoch),
//! `eval` (evaluation and full passes), `window` (running means of train records), `output`
//! (plots, the atomic summary.json), `precision` (the float kind of losses: float64 stays),
//! `session` (the setup and the end both commands share: ranks, device and threads, the seeded
//! VarStore and `--init`, the summary's evaluations, summary.json), `stream` (a render stream
//! as training batches). The thread budget is `nn::device::apply_thread_plan`.
pub mod data_parallel;
pub mod eval;
pub mod output;
pub mod precision;
pub mod run;
pub mod schedule;
pub mod session;
pub mod step;
pub mod stream;
pub mod window;

pub use data_parallel::DataParallel;
pub use eval::{EvalCtx, SetPass};
pub use output::{draw_plots, write_json_atomic};
pub use precision::{cross_entropy, float_kind, widen};
pub use run::{run, Epochs, Feed, Feeds, Outcome, RunSpec, CKPT_BEST, CKPT_LAST};
pub use schedule::Schedule;
pub use session::{finish, load_init, seeded_store, EvalSummary, Session};
pub use step::{
    EvalModel, FullPass, Method, Optimizers, PassOutput, StepBatch, StepCtx, StepStats, TrainStep,
    Trainee,
};
pub use stream::{StreamSource, StreamWatch};
pub use window::{log_every, Window};
