//! The scene contract: the committed schema the Blender side reads is the one the Rust types
//! generate, and the worker refuses a malformed request with a clear, one-line error.
use synthgen::scene::contract::request_schema;

const SCHEMA_FILE: &str = "blender_scripts/synthgen_blender/request.schema.json";

#[test]
fn committed_schema_matches_the_contract_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_FILE);
    let generated = request_schema();
    if std::env::var_os("SYNTHGEN_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write the schema");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{SCHEMA_FILE} is stale; regenerate it with SYNTHGEN_WRITE_SCHEMA=1 cargo test --release --test scene_contract"
    );
}
