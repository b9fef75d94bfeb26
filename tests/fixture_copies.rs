//! The fixture copy under `tests/fixtures/models` (or `$SOFA_MODELS_DIR`) is complete and
//! unmodified: every model of `fixtures.json` is there with the recorded size and SHA-256, with
//! both of its cases. A stale copy fails here first; `scripts/sync-fixtures` refreshes it.

mod common;

use sha2::{Digest, Sha256};

#[test]
fn every_recorded_fixture_is_present_with_its_hash_and_cases() {
    let dir = common::models_dir();
    let index = std::fs::read_to_string(dir.join("fixtures.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join("fixtures.json").display()));
    let index: serde_json::Value = serde_json::from_str(&index).expect("fixtures.json parses");
    let fixtures = index["fixtures"].as_array().expect("a fixtures array");
    assert!(fixtures.len() >= 9, "{} fixtures listed", fixtures.len());
    for f in fixtures {
        let name = f["name"].as_str().expect("name");
        let file = f["onnx_file"].as_str().expect("onnx_file");
        let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            Some(bytes.len() as u64),
            f["bytes"].as_u64(),
            "{name}: size"
        );
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            Some(digest.as_str()),
            f["sha256"].as_str(),
            "{name}: sha256"
        );
        for case in f["cases"].as_array().expect("cases") {
            for key in ["input_npz", "expected_npz"] {
                let npz = case[key].as_str().expect("case file");
                assert!(dir.join(npz).is_file(), "{name}: {npz} is missing");
            }
        }
    }
}
