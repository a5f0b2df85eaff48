//! The store file is text from outside too: one over `MAX_STORE_BYTES`
//! (or `/dev/zero`) is refused as too large after reading one byte past
//! the limit, and a serial number, label or location holding a control
//! character (a newline would forge lines wherever the serial is shown,
//! ESC reach the terminal raw) makes it corrupt, naming the field. The
//! terminal still gets a usable empty store beside the error.

use std::path::Path;

use readerlink::reader::{DeviceType, SerialNumber};
use readerlink::store::{FileStore, KnownReader, MAX_STORE_BYTES, Store, StoreError, read_store_file};

#[test]
fn a_store_file_over_the_limit_or_dev_zero_is_refused_as_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(MAX_STORE_BYTES + 1)
        .unwrap();
    for path in [big.as_path(), Path::new("/dev/zero")] {
        let e = read_store_file(path).unwrap_err();
        assert!(
            matches!(e, StoreError::TooLarge { limit, .. } if limit == MAX_STORE_BYTES),
            "{}: {e}",
            path.display()
        );
        assert_eq!(e.code(), "store_too_large");
        let (store, problem) = FileStore::open(path);
        assert_eq!(problem.map(|p| p.code()), Some("store_too_large"));
        assert!(
            store.last_connected().is_none(),
            "an empty store beside the error"
        );
    }
}

/// A store file with a serial `STRM2-0001` labelled `LABEL` at location
/// `tml_1`, as this code writes it.
fn written(dir: &Path) -> (std::path::PathBuf, String) {
    let path = dir.join("store.json");
    let (store, _) = FileStore::open(&path);
    let serial = SerialNumber::new("STRM2-0001");
    let mut known = KnownReader::new(DeviceType::StripeM2);
    known.label = Some("LABEL".into());
    known.last_seen_location = Some("tml_1".into());
    store.remember_reader(&serial, known).unwrap();
    store.set_last_connected(&serial, "tml_1").unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

#[test]
fn a_serial_label_or_location_with_a_control_character_makes_the_store_corrupt_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (path, text) = written(dir.path());
    assert!(read_store_file(&path).is_ok(), "as written, it reads back");
    for (from, to, field) in [
        (
            "\"serial_number\": \"STRM2-0001\"",
            "\"serial_number\": \"STRM2-0001\\n   0.000s  Connected\"",
            "last_connected.serial_number",
        ),
        (
            "\"LABEL\"",
            "\"\\u001b[2JLABEL\"",
            "known_readers.STRM2-0001.label",
        ),
        (
            "\"last_seen_location\": \"tml_1\"",
            "\"last_seen_location\": \"tml\\r1\"",
            "known_readers.STRM2-0001.last_seen_location",
        ),
    ] {
        assert!(text.contains(from), "{from} in {text}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let e = read_store_file(&path).unwrap_err();
        assert_eq!(e.code(), "store_corrupt", "{e}");
        let message = e.to_string();
        assert!(message.contains(&format!("`{field}`")), "{field} in: {message}");
        assert!(message.contains("control character"), "{message}");
        assert!(
            !message.contains('\n') && !message.contains('\u{1b}'),
            "{message:?}"
        );
    }
    // A serial key of the known readers is checked too.
    std::fs::write(&path, text.replace("\"STRM2-0001\": {", "\"STRM2\\u0007\": {")).unwrap();
    let e = read_store_file(&path).unwrap_err();
    assert!(e.to_string().contains("`known_readers key`"), "{e}");
}
