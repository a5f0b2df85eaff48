//! Fuzz targets on stable: every parser of outside input — frames and
//! their reassembly, advertisements, traces, scenario files, fleet files
//! and the local backend's form bodies — is fed its committed corpus
//! (`tests/fuzz_corpus/<target>/`, real inputs) and mutations of it, and
//! answers each with a value or a typed error: never a panic. What decodes
//! is checked too (a frame re-encodes to its bytes, an advertisement to
//! one that decodes the same).
//!
//! Run longer with `READERLINK_FUZZ_CASES=100000 cargo test --release
//! --test every_fuzz_target_answers_its_corpus_and_mutations_with_a_value_or_a_typed_error`;
//! keep any input that fails in its target's corpus folder.

mod fuzz_support;

use fuzz_support::{config, mutated};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use readerlink::backend::{BackendCore, CreateLocation, RegisterReader, UpdateQuery, parse_form};
use readerlink::protocol::advertisement::ReaderAdvertisement;
use readerlink::protocol::frame::{CRC_LEN, HEADER_LEN, MAX_BODY_LEN, announced_len, seal};
use readerlink::protocol::{ReaderMessage, Reassembler, Request, fragment};
use readerlink::runtime::Trace;
use readerlink::scenario;
use readerlink::transport::sim::Fleet;
use std::path::Path;

/// Both directions' decoders on one frame: a decoded frame encodes to the
/// same bytes, a refused one has a message.
fn decode_frame(bytes: &[u8]) -> Result<(), TestCaseError> {
    match Request::decode(bytes) {
        Ok(request) => prop_assert_eq!(request.encode(), bytes.to_vec()),
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    match ReaderMessage::decode(bytes) {
        Ok(message) => prop_assert_eq!(message.encode(), bytes.to_vec()),
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    Ok(())
}

fn frame_target(bytes: &[u8]) -> Result<(), TestCaseError> {
    decode_frame(bytes)?;
    // The same header and body sealed with a good CRC, so the mutation
    // reaches the body decoders instead of stopping at the checksum.
    if bytes.len() >= HEADER_LEN + CRC_LEN && bytes.len() - HEADER_LEN - CRC_LEN <= MAX_BODY_LEN {
        decode_frame(&seal(bytes[1], &bytes[HEADER_LEN..bytes.len() - CRC_LEN]))?;
    }
    Ok(())
}

fn reassembly_target(bytes: &[u8], att_payload: usize) -> Result<(), TestCaseError> {
    // The input sent as one frame: fragments in order give it back whole
    // when its header announces its length, and nothing else comes out.
    let mut reassembler = Reassembler::new();
    let mut whole = Vec::new();
    for piece in fragment(bytes, att_payload) {
        match reassembler.push(&piece) {
            Ok(Some(frame)) => whole.push(frame),
            Ok(None) => {}
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
    if matches!(announced_len(bytes), Ok(Some(total)) if total == bytes.len()) {
        prop_assert_eq!(&whole, &vec![bytes.to_vec()]);
    }
    for frame in &whole {
        decode_frame(frame)?;
    }
    // The input taken as the ATT payloads themselves, so fragment
    // headers (first flag, index) are mutated too.
    let mut reassembler = Reassembler::new();
    for piece in bytes.chunks(att_payload) {
        if let Ok(Some(frame)) = reassembler.push(piece) {
            decode_frame(&frame)?;
        }
    }
    Ok(())
}

fn advertisement_target(bytes: &[u8]) -> Result<(), TestCaseError> {
    match ReaderAdvertisement::decode(bytes) {
        Ok(decoded) => prop_assert_eq!(ReaderAdvertisement::decode(&decoded.encode()), Ok(decoded)),
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    Ok(())
}

fn trace_target(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Err(e) = Trace::parse(&String::from_utf8_lossy(bytes)) {
        prop_assert!(!e.code().is_empty() && !e.to_string().is_empty(), "{e}");
    }
    Ok(())
}

/// The number of lines of a text, counting a last line without a newline.
fn lines(text: &str) -> usize {
    text.lines().count().max(1)
}

fn scenario_target(bytes: &[u8]) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(bytes);
    // Fleet paths resolve beside the shipped examples, as the corpus
    // scenarios were written there.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    if let Err(e) = scenario::parse(&text, Some(&dir), None) {
        prop_assert!(!e.code().is_empty(), "{e}");
        prop_assert!(
            e.line() <= lines(&text) + 1,
            "line {} of {}: {e}",
            e.line(),
            lines(&text)
        );
    }
    Ok(())
}

fn fleet_target(bytes: &[u8]) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(bytes);
    if let Err(e) = Fleet::from_toml(&text) {
        prop_assert!(!e.to_string().is_empty());
        prop_assert!(
            e.line() <= lines(&text) + 1,
            "line {} of {}: {e}",
            e.line(),
            lines(&text)
        );
    }
    Ok(())
}

/// One body through the form parsing of every route that takes a form
/// (connection token, create location, register reader, and the update
/// query string), then through the backend core, which checks the values.
fn backend_form_target(bytes: &[u8]) -> Result<(), TestCaseError> {
    let typed = |e: readerlink::backend::BackendError| -> Result<(), TestCaseError> {
        prop_assert!(!e.code().is_empty() && !e.to_string().is_empty(), "{e}");
        Ok(())
    };
    let form = match parse_form(bytes) {
        Ok(form) => form,
        Err(e) => return typed(e),
    };
    let mut core = BackendCore::in_memory(1);
    core.create_location(CreateLocation::new("Shop", "1 Main Street", "FR"))
        .expect("a valid location");
    if let Err(e) = core.create_connection_token(form.get("location").map(String::as_str)) {
        typed(e)?;
    }
    match CreateLocation::from_form(form.clone()) {
        Ok(request) => {
            if let Err(e) = core.create_location(request) {
                typed(e)?;
            }
        }
        Err(e) => typed(e)?,
    }
    match RegisterReader::from_form(form.clone()) {
        Ok(request) => {
            if let Err(e) = core.register_reader(request) {
                typed(e)?;
            }
        }
        Err(e) => typed(e)?,
    }
    match UpdateQuery::from_form(form) {
        Ok(query) => {
            if let Err(e) = core.check_update(&query, 0) {
                typed(e)?;
            }
        }
        Err(e) => typed(e)?,
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn frames_decode_or_fail_typed(bytes in mutated(corpus_of!("frame"))) {
        frame_target(&bytes)?;
    }

    #[test]
    fn fragments_reassemble_or_fail_typed(
        bytes in mutated(corpus_of!("frame")),
        att_payload in prop_oneof![Just(2usize), Just(20), Just(23), 2usize..=244, Just(244)],
    ) {
        reassembly_target(&bytes, att_payload)?;
    }

    #[test]
    fn advertisements_decode_or_fail_typed(bytes in mutated(corpus_of!("advertisement"))) {
        advertisement_target(&bytes)?;
    }

    #[test]
    fn traces_read_or_fail_typed(bytes in mutated(corpus_of!("trace"))) {
        trace_target(&bytes)?;
    }

    #[test]
    fn scenarios_parse_or_fail_typed(bytes in mutated(corpus_of!("scenario"))) {
        scenario_target(&bytes)?;
    }

    #[test]
    fn fleets_parse_or_fail_typed(bytes in mutated(corpus_of!("fleet"))) {
        fleet_target(&bytes)?;
    }

    #[test]
    fn backend_form_bodies_parse_or_fail_typed(bytes in mutated(corpus_of!("backend_form"))) {
        backend_form_target(&bytes)?;
    }
}

/// The corpus files as they are: the valid ones are accepted (so the
/// mutations start from inputs that reach deep), and any crashing input
/// kept there stays a regression test.
#[test]
fn every_corpus_input_runs_and_the_valid_ones_are_accepted() {
    let run = |target: &str, check: &dyn Fn(&[u8]) -> Result<(), TestCaseError>| {
        for (name, bytes) in corpus_of_dyn(target) {
            if let Err(e) = check(&bytes) {
                panic!("{target}/{name}: {e}");
            }
        }
    };
    run("frame", &frame_target);
    run("frame", &|b| reassembly_target(b, 20));
    run("advertisement", &advertisement_target);
    run("trace", &trace_target);
    run("scenario", &scenario_target);
    run("fleet", &fleet_target);
    run("backend_form", &backend_form_target);

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    for (name, bytes) in corpus_of_dyn("frame")
        .into_iter()
        .filter(|(n, _)| n.starts_with("valid_"))
    {
        let ok = Request::decode(&bytes).is_ok() || ReaderMessage::decode(&bytes).is_ok();
        assert!(ok, "frame/{name} decodes");
    }
    for (name, bytes) in corpus_of_dyn("advertisement")
        .into_iter()
        .filter(|(n, _)| n.starts_with("valid_"))
    {
        assert!(
            ReaderAdvertisement::decode(&bytes).is_ok(),
            "advertisement/{name} decodes"
        );
    }
    for (name, bytes) in corpus_of_dyn("trace")
        .into_iter()
        .filter(|(n, _)| n.starts_with("valid_"))
    {
        let text = String::from_utf8(bytes).unwrap();
        assert!(Trace::parse(&text).is_ok(), "trace/{name} reads");
    }
    for (name, bytes) in corpus_of_dyn("scenario")
        .into_iter()
        .filter(|(n, _)| n.starts_with("valid_"))
    {
        let text = String::from_utf8(bytes).unwrap();
        if let Err(e) = scenario::parse(&text, Some(&dir), None) {
            panic!("scenario/{name}: {e}");
        }
    }
    for (name, bytes) in corpus_of_dyn("fleet")
        .into_iter()
        .filter(|(n, _)| n.starts_with("valid_"))
    {
        let text = String::from_utf8(bytes).unwrap();
        if let Err(e) = Fleet::from_toml(&text) {
            panic!("fleet/{name}: {e}");
        }
    }
    for (name, bytes) in corpus_of_dyn("backend_form")
        .into_iter()
        .filter(|(n, _)| n.starts_with("valid_"))
    {
        assert!(parse_form(&bytes).is_ok(), "backend_form/{name} parses");
    }
}

fn corpus_of_dyn(target: &str) -> Vec<(String, Vec<u8>)> {
    fuzz_support::corpus(target)
}
