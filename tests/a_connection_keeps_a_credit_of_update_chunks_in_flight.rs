//! Flow control of an update's chunks lives in the connection (issue 13):
//! asked for a range of image bytes with a credit of chunks, it sends no
//! more than that many unacknowledged, sends more as each `UpdateChunkAck`
//! comes, and cuts chunks to fill whole ATT payloads (472 bytes at the
//! M2's 244). A credit of one chunk is stop-and-wait.

mod connection_support;

use connection_support::*;
use readerlink::connection::{CommandError, Connection, ConnectionEvent, ConnectionInput, ConnectionOutput};
use readerlink::protocol::{ErrorCode, ReaderMessage};
use readerlink::runtime::Harness;
use readerlink::updater::Sha256Digest;

/// 472-byte chunks: two whole 244-byte payloads each.
const CHUNK: u32 = 472;

/// A connected harness whose reader accepted an `UpdateBegin`.
fn writing() -> Harness<Connection> {
    let mut h = connected();
    let out = h.input(ConnectionInput::UpdateBeginRequested {
        version: "9.0.0".into(),
        size: 100_000,
        sha256: Sha256Digest([0; 32]),
        window: 2,
    });
    let begin = out
        .iter()
        .find_map(|o| match o {
            ConnectionOutput::Send { request, .. } => Some(request.request_id),
            _ => None,
        })
        .expect("the begin was sent");
    let session = h.machine().session();
    let out = h.input(ConnectionInput::FrameReceived {
        session,
        message: ReaderMessage::Ack { request_id: begin },
    });
    assert!(out.contains(&ConnectionOutput::Report(ConnectionEvent::UpdateBeginAcked)));
    h
}

/// The byte ranges of the chunks sent, and their chunk length.
fn sent(out: &[ConnectionOutput]) -> Vec<(u32, u32, u16)> {
    out.iter()
        .filter_map(|o| match o {
            ConnectionOutput::SendImageChunks {
                from, to, chunk_len, ..
            } => Some((*from, *to, *chunk_len)),
            _ => None,
        })
        .collect()
}

fn acked(h: &mut Harness<Connection>, up_to_offset: u32) -> Vec<ConnectionOutput> {
    let session = h.machine().session();
    h.input(ConnectionInput::FrameReceived {
        session,
        message: ReaderMessage::UpdateChunkAck {
            request_id: 0,
            up_to_offset,
        },
    })
}

fn chunks(from: u32, to: u32, in_flight_chunks: u16) -> ConnectionInput {
    ConnectionInput::UpdateChunksRequested {
        from,
        to,
        chunk_len: 512,
        in_flight_chunks,
    }
}

#[test]
fn the_connection_sends_its_credit_of_chunks_then_more_as_each_acknowledgement_comes() {
    let mut h = writing();
    let out = h.input(chunks(0, 5_000, 4));
    assert_eq!(
        sent(&out),
        [(0, 4 * CHUNK, CHUNK as u16)],
        "four chunks in flight, each fitted to two whole payloads"
    );

    let out = acked(&mut h, 2 * CHUNK);
    assert_eq!(
        sent(&out),
        [(4 * CHUNK, 6 * CHUNK, CHUNK as u16)],
        "two acknowledged, two more"
    );
    assert!(
        out.contains(&ConnectionOutput::Report(ConnectionEvent::UpdateChunksAcked {
            up_to_offset: 2 * CHUNK
        }))
    );

    assert_eq!(
        sent(&acked(&mut h, CHUNK)),
        [],
        "an older acknowledgement frees nothing"
    );

    let out = acked(&mut h, 6 * CHUNK);
    assert_eq!(sent(&out), [(6 * CHUNK, 10 * CHUNK, CHUNK as u16)]);

    // The last chunk is shorter; nothing past the end is sent.
    let out = acked(&mut h, 10 * CHUNK);
    assert_eq!(sent(&out), [(10 * CHUNK, 5_000, CHUNK as u16)]);
    assert_eq!(sent(&acked(&mut h, 5_000)), []);
}

#[test]
fn a_new_request_replaces_the_one_under_way_and_a_refused_chunk_ends_it() {
    let mut h = writing();
    h.input(chunks(0, 10_000, 4));
    // The updater saw no acknowledgement for a while and resends from the
    // last byte acknowledged.
    let out = h.input(chunks(2 * CHUNK, 10_000, 4));
    assert_eq!(sent(&out), [(2 * CHUNK, 6 * CHUNK, CHUNK as u16)]);

    let session = h.machine().session();
    let out = h.input(ConnectionInput::FrameReceived {
        session,
        message: ReaderMessage::Error {
            request_id: 0,
            code: ErrorCode::InstallFailed,
        },
    });
    assert!(
        out.contains(&ConnectionOutput::Report(ConnectionEvent::UpdateCommandFailed {
            error: CommandError::refused(ErrorCode::InstallFailed),
        }))
    );
    assert_eq!(
        sent(&acked(&mut h, 4 * CHUNK)),
        [],
        "the install is over: no more chunks"
    );
}

#[test]
fn a_credit_of_one_chunk_is_stop_and_wait() {
    let mut h = writing();
    assert_eq!(
        sent(&h.input(chunks(0, 3 * CHUNK, 1))),
        [(0, CHUNK, CHUNK as u16)]
    );
    assert_eq!(sent(&acked(&mut h, CHUNK)), [(CHUNK, 2 * CHUNK, CHUNK as u16)]);
    assert_eq!(
        sent(&acked(&mut h, 2 * CHUNK)),
        [(2 * CHUNK, 3 * CHUNK, CHUNK as u16)]
    );
}

#[test]
fn a_credit_above_the_connections_bound_is_cut_to_it_so_the_link_queue_never_fills() {
    use readerlink::connection::{LINK_QUEUE_FRAMES, MAX_CHUNKS_IN_FLIGHT};
    let mut h = writing();
    let bound = MAX_CHUNKS_IN_FLIGHT as u32;
    assert_eq!(
        sent(&h.input(chunks(0, 100_000, u16::MAX))),
        [(0, bound * CHUNK, CHUNK as u16)]
    );
    assert!(
        LINK_QUEUE_FRAMES > MAX_CHUNKS_IN_FLIGHT as usize,
        "room for the commands besides"
    );
}
