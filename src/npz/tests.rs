//! `.npz` round trips, determinism, fixtures and refusals.

use super::*;
use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh path under the system temp dir (removed by the caller).
fn temp_path(tag: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("sofa-npz-{}-{tag}-{n}.npz", std::process::id()))
}

fn sample() -> BTreeMap<String, Tensor> {
    let mut m = BTreeMap::new();
    m.insert(
        "f32".into(),
        Tensor::from_f32(vec![2, 2], vec![1.5, -2.0, 0.25, f32::INFINITY]).unwrap(),
    );
    m.insert(
        "i64".into(),
        Tensor::from_i64(vec![3], vec![i64::MIN, 0, 7]).unwrap(),
    );
    m.insert(
        "bool".into(),
        Tensor::from_bool(vec![2], vec![true, false]).unwrap(),
    );
    m.insert("scalar".into(), Tensor::scalar_f32(3.0));
    m.insert(
        "empty".into(),
        Tensor::from_f32(vec![0, 4], vec![]).unwrap(),
    );
    let narrow = |elem, data| Tensor::new(elem, vec![2], data).unwrap();
    m.insert(
        "f16".into(),
        narrow(ElemType::F16, TensorData::F32(vec![0.1, -65504.0])),
    );
    m.insert(
        "i32".into(),
        narrow(ElemType::I32, TensorData::I64(vec![-5, 1 << 30])),
    );
    m.insert(
        "i8".into(),
        narrow(ElemType::I8, TensorData::I64(vec![-128, 127])),
    );
    m
}

#[test]
fn round_trips_every_supported_dtype() {
    let path = temp_path("roundtrip");
    let tensors = sample();
    write_npz(&path, &tensors).unwrap();
    let back = read_npz(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(back, tensors);
}

#[test]
fn bf16_is_written_as_float32() {
    let mut m = BTreeMap::new();
    let bf = Tensor::new(ElemType::BF16, vec![1], TensorData::F32(vec![1.5])).unwrap();
    m.insert("w".to_string(), bf);
    let mut buf = Cursor::new(Vec::new());
    write_npz_to(&mut buf, &m).unwrap();
    let back = read_npz_from(Cursor::new(buf.into_inner())).unwrap();
    assert_eq!(back["w"].elem(), ElemType::F32);
    assert_eq!(back["w"].as_f32().unwrap(), &[1.5]);
}

#[test]
fn writes_are_byte_identical_and_leave_no_temp_file() {
    let (a, b) = (temp_path("det-a"), temp_path("det-b"));
    write_npz(&a, &sample()).unwrap();
    write_npz(&b, &sample()).unwrap();
    let (bytes_a, bytes_b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(bytes_a, bytes_b);
    // Overwriting in place is atomic and yields the same bytes again.
    write_npz(&a, &sample()).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), bytes_b);
    let dir = a.parent().unwrap();
    let stem = a.file_name().unwrap().to_string_lossy().to_string();
    let leftovers = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!(".{stem}"))
        });
    std::fs::remove_file(&a).unwrap();
    std::fs::remove_file(&b).unwrap();
    assert!(!leftovers, "temporary file left behind");
}

/// A one-entry zip holding a hand-made `.npy` with the given header fields and payload.
fn npz_with(descr: &str, fortran: bool, shape: &str, payload: &[u8]) -> Vec<u8> {
    let header = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    npz_with_header(header, payload)
}

/// A one-entry zip (`x.npy`) with the given header dictionary text and payload.
fn npz_with_header(mut header: String, payload: &[u8]) -> Vec<u8> {
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(header.as_bytes());
    npy.extend(payload);
    let mut zip = npyz::zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file(
        "x.npy",
        FileOptions::default().compression_method(CompressionMethod::Stored),
    )
    .unwrap();
    zip.write_all(&npy).unwrap();
    zip.finish().unwrap().into_inner()
}

#[test]
fn refuses_fortran_order_and_unsupported_dtypes() {
    let fortran = npz_with("<f4", true, "(2, 2)", &[0u8; 16]);
    let err = read_npz_from(Cursor::new(fortran)).unwrap_err();
    assert!(err.to_string().contains("Fortran-order"), "{err}");
    let f64s = npz_with("<f8", false, "(1,)", &[0u8; 8]);
    let err = read_npz_from(Cursor::new(f64s)).unwrap_err();
    assert!(
        err.to_string().contains("dtype '<f8' is not supported"),
        "{err}"
    );
    let short = npz_with("<f4", false, "(4,)", &[0u8; 8]);
    assert!(
        read_npz_from(Cursor::new(short)).is_err(),
        "truncated payload"
    );
}

#[test]
fn reads_big_endian_arrays() {
    let npz = npz_with(">f4", false, "(2,)", &[0x3f, 0xc0, 0, 0, 0xc0, 0, 0, 0]);
    let t = read_npz_from(Cursor::new(npz))
        .unwrap()
        .remove("x")
        .unwrap();
    assert_eq!(t.as_f32().unwrap(), &[1.5, -2.0]);
}

#[test]
fn reads_a_fixture_input() {
    let dir = std::env::var_os("SOFA_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models"));
    let path = dir.join("bert_sdpa_ts_op17.input.npz");
    let inputs = read_npz(&path).unwrap();
    assert_eq!(
        inputs.keys().collect::<Vec<_>>(),
        ["attention_mask", "input_ids"]
    );
    assert_eq!(inputs["input_ids"].shape(), &[2, 8]);
    assert_eq!(inputs["input_ids"].elem(), ElemType::I64);
    let err = read_npz(&dir.join("does-not-exist.npz")).unwrap_err();
    assert!(err.to_string().contains("does-not-exist.npz"), "{err}");
}

#[test]
fn errors_name_the_path_once_and_header_errors_the_array() {
    let path = temp_path("bad-header");
    let bad = npz_with_header("{'fortran_order': False, 'shape': (1,), }".into(), &[0; 4]);
    std::fs::write(&path, bad).unwrap();
    let err = read_npz(&path).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    let p = path.display();
    assert_eq!(
        err,
        format!("{p}: array 'x': bad .npy header: dict is missing key 'descr'")
    );
    let path = temp_path("not-a-zip");
    std::fs::write(&path, b"hello").unwrap();
    let err = read_npz(&path).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(err.matches(&path.display().to_string()).count(), 1, "{err}");
}

/// `-o /dev/null` writes to the null device and leaves it one: a rename (the atomic path) would
/// replace it with a regular file when run as root, or fail otherwise.
#[cfg(unix)]
#[test]
fn devices_are_written_in_place_not_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let null = Path::new("/dev/null");
    write_npz(null, &sample()).unwrap();
    assert!(std::fs::metadata(null)
        .unwrap()
        .file_type()
        .is_char_device());
}
