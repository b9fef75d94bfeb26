//! `HwConfig`: the shipped default, strict parsing, validation with key paths, round trips and
//! a stable, field-sensitive hash.
//!
//! `SOFA_BLESS=1 cargo test -p sofa-ir --test hw_config` rewrites `configs/sofa-28nm.toml`
//! from `HwConfig::default()`.

use std::path::PathBuf;

use sofa_ir::hw::{HwConfig, HwConfigError, Rounding};

fn shipped_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/sofa-28nm.toml")
}

fn default_toml() -> String {
    HwConfig::default()
        .to_toml_string()
        .expect("the default serialises")
}

#[test]
fn the_shipped_config_is_exactly_the_default() {
    let expected = default_toml();
    if std::env::var_os("SOFA_BLESS").is_some() {
        std::fs::write(shipped_path(), &expected).expect("write configs/sofa-28nm.toml");
    }
    let text = std::fs::read_to_string(shipped_path()).expect("configs/sofa-28nm.toml exists");
    assert_eq!(text, expected, "regenerate with SOFA_BLESS=1");
    assert_eq!(HwConfig::from_toml_str(&text), Ok(HwConfig::default()));
}

#[test]
fn the_default_is_the_papers_chip() {
    let hw = HwConfig::default();
    assert_eq!(hw.clock.freq_mhz, 1000);
    assert_eq!(hw.block.query_rows, 128);
    assert_eq!((hw.dlzs.rows, hw.dlzs.cols), (128, 32));
    assert_eq!(
        (
            hw.sads.sorters,
            hw.sads.sorter_inputs,
            hw.sads.sorter_outputs
        ),
        (128, 16, 4)
    );
    assert_eq!((hw.kvpe.rows, hw.kvpe.cols), (128, 4));
    assert_eq!(
        (
            hw.sufa.rows,
            hw.sufa.cols,
            hw.sufa.exp_units,
            hw.sufa.div_units
        ),
        (128, 4, 128, 128)
    );
    assert_eq!(
        (
            hw.sram.token_bytes,
            hw.sram.weight_bytes,
            hw.sram.temp_bytes
        ),
        (192 * 1024, 96 * 1024, 28 * 1024)
    );
    assert_eq!(hw.dlzs.rounding, Rounding::Floor);
}

#[test]
fn an_unknown_key_is_rejected_by_name() {
    let text = default_toml().replace("[sram]\n", "[sram]\ntokenn_bytes = 1\n");
    let err = HwConfig::from_toml_str(&text).unwrap_err();
    let HwConfigError::Syntax {
        format: "TOML",
        message,
    } = &err
    else {
        panic!("expected a TOML error, got {err:?}");
    };
    assert!(
        message.contains("unknown field `tokenn_bytes`"),
        "{message}"
    );
    assert!(message.contains("line"), "{message}");

    let text = format!("{}\n[turbo]\nenabled = 1\n", default_toml());
    let err = HwConfig::from_toml_str(&text).unwrap_err().to_string();
    assert!(err.contains("unknown field `turbo`"), "{err}");

    let json = HwConfig::default()
        .to_json_string()
        .unwrap()
        .replace("\"lanes\": 128", "\"lanes\": 128, \"width\": 3");
    let err = HwConfig::from_json_str(&json).unwrap_err().to_string();
    assert!(err.contains("unknown field `width`"), "{err}");
}

#[test]
fn a_missing_key_is_named() {
    let text = default_toml().replace("temp_bytes = 28672\n", "");
    let err = HwConfig::from_toml_str(&text).unwrap_err().to_string();
    assert!(err.contains("missing field `temp_bytes`"), "{err}");
}

#[test]
fn a_zero_sram_size_is_rejected_with_its_dotted_key() {
    let text = default_toml().replace("temp_bytes = 28672", "temp_bytes = 0");
    assert_eq!(
        HwConfig::from_toml_str(&text),
        Err(HwConfigError::Invalid(vec![
            "sram.temp_bytes must be > 0".into()
        ]))
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let text = default_toml()
        .replace("token_bytes = 196608", "token_bytes = 0")
        .replace("lanes = 128", "lanes = 0")
        .replace("bandwidth_mb_s = 512000", "bandwidth_mb_s = 0");
    let err = HwConfig::from_toml_str(&text).unwrap_err();
    assert_eq!(
        err,
        HwConfigError::Invalid(vec![
            "vector.lanes must be > 0".into(),
            "sram.token_bytes must be > 0".into(),
            "dram.bandwidth_mb_s must be > 0".into(),
        ])
    );
    assert!(err.to_string().contains("\n  sram.token_bytes must be > 0"));
}

#[test]
fn negative_and_mistyped_values_are_syntax_errors() {
    let neg = default_toml().replace("freq_mhz = 1000", "freq_mhz = -1");
    assert!(matches!(
        HwConfig::from_toml_str(&neg),
        Err(HwConfigError::Syntax { .. })
    ));
    let text = default_toml().replace("rounding = \"floor\"", "rounding = \"down\"");
    let err = HwConfig::from_toml_str(&text).unwrap_err().to_string();
    assert!(err.contains("down"), "{err}");
}

fn modified() -> HwConfig {
    let mut hw = HwConfig {
        name: "sofa-wide".into(),
        ..HwConfig::default()
    };
    hw.sram.temp_bytes = 64 * 1024;
    hw.dlzs.rounding = Rounding::Nearest;
    hw.dram.bandwidth_mb_s = 256_000;
    hw
}

#[test]
fn toml_and_json_round_trip() {
    for hw in [HwConfig::default(), modified()] {
        let toml = hw.to_toml_string().unwrap();
        assert_eq!(HwConfig::from_toml_str(&toml), Ok(hw.clone()));
        let json = hw.to_json_string().unwrap();
        assert_eq!(HwConfig::from_json_str(&json), Ok(hw.clone()));
    }
}

#[test]
fn the_hash_is_stable() {
    // FNV-1a of the compact JSON (cross-checked with an independent Python FNV-1a); it changes
    // only when the default or the schema changes.
    assert_eq!(HwConfig::default().hash(), 0xa548_6701_a985_8452);
    assert_eq!(modified().hash(), modified().clone().hash());
    assert_ne!(modified().hash(), HwConfig::default().hash());
}

/// Every leaf of the JSON form, changed one at a time, changes the hash.
#[test]
fn the_hash_is_sensitive_to_every_field() {
    let base = serde_json::to_value(HwConfig::default()).unwrap();
    let mut paths = Vec::new();
    collect_leaves(&base, String::new(), &mut paths);
    assert!(paths.len() >= 30, "only {} leaves", paths.len());
    let h0 = HwConfig::default().hash();
    for path in paths {
        let mut v = base.clone();
        let leaf = v.pointer_mut(&path).unwrap();
        *leaf = match leaf {
            serde_json::Value::Number(n) => (n.as_u64().unwrap() + 1).into(),
            serde_json::Value::String(s) if s == "floor" => "ceil".into(),
            serde_json::Value::String(s) => format!("{s}x").into(),
            other => panic!("unexpected leaf {other}"),
        };
        let hw: HwConfig = serde_json::from_value(v).unwrap();
        assert_ne!(hw.hash(), h0, "hash ignores {path}");
    }
}

fn collect_leaves(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map {
                collect_leaves(child, format!("{at}/{k}"), out);
            }
        }
        _ => out.push(at),
    }
}
