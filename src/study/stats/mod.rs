//! Study statistics: the summary of a cell over replicates (mean and standard error) and the
//! paired test behind the direction mark (exact McNemar on the shared test images, discordant
//! counts pooled over replicates).
pub mod mcnemar;
pub mod predictions;
pub mod replicates;

pub use mcnemar::{exact_p_value, Discordant};
pub use replicates::Summary;
