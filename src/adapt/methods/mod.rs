//! One module per adaptation method; each implements `AdaptMethod` and nothing else.
pub mod dann;
pub mod disclusterda;
pub mod mcd;
pub mod rca;
pub mod source_only;
pub mod srdc;
