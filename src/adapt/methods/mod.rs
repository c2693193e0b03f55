//! One module per adaptation method; each implements `engine::TrainStep` and nothing else.
pub mod dann;
pub mod disclusterda;
pub mod mcd;
pub mod rca;
pub mod source_only;
pub mod srdc;
