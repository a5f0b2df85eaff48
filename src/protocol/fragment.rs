//! Cutting frames into ATT payloads and putting them back together.
//!
//! A frame rarely fits one write or notification: the ATT payload is 20
//! bytes by default (MTU 23 − 3) and at most 244 with a negotiated MTU of
//! 247. Each ATT payload starts with a one-byte fragment header:
//!
//! | bit | meaning |
//! |---|---|
//! | 7 | set on the first fragment of a frame |
//! | 0–6 | the fragment's index within its frame, modulo 128 (0 on the first) |
//!
//! and carries up to `att_payload − 1` bytes of the frame. The reassembler
//! knows a frame is complete from the length in its header
//! ([`super::frame`]), so there is no "last" flag. A fragment out of
//! sequence (a lost write) fails the frame being assembled with
//! [`CodecError::FragmentOutOfOrder`]; the next first fragment starts afresh.

use super::frame::{self, CodecError};

/// The default ATT payload (MTU 23).
pub const DEFAULT_ATT_PAYLOAD: usize = 20;
/// The largest ATT payload we negotiate (MTU 247).
pub const MAX_ATT_PAYLOAD: usize = 244;
const FIRST: u8 = 0x80;
const INDEX: u8 = 0x7f;

/// Cuts one frame into ATT payloads of at most `att_payload` bytes
/// (clamped to at least 2, so every fragment carries a byte of the frame).
pub fn fragment(frame: &[u8], att_payload: usize) -> Vec<Vec<u8>> {
    let room = att_payload.max(2) - 1;
    frame
        .chunks(room)
        .enumerate()
        .map(|(i, piece)| {
            let index = (i % 128) as u8;
            let header = if i == 0 { FIRST } else { index };
            let mut payload = Vec::with_capacity(piece.len() + 1);
            payload.push(header);
            payload.extend_from_slice(piece);
            payload
        })
        .collect()
}

/// Collects ATT payloads until a whole frame is in.
#[derive(Debug, Default, Clone)]
pub struct Reassembler {
    /// The frame assembled so far; empty between frames.
    buffer: Vec<u8>,
    /// The index the next fragment must carry, while a frame is open.
    next_index: Option<u8>,
}

impl Reassembler {
    /// An empty reassembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether part of a frame is waiting for more fragments.
    pub fn is_partial(&self) -> bool {
        self.next_index.is_some()
    }

    /// Takes one ATT payload. Returns the whole frame once its last fragment
    /// is in, `None` while more are needed, or an error (the partial frame
    /// is dropped). Never panics.
    pub fn push(&mut self, payload: &[u8]) -> Result<Option<Vec<u8>>, CodecError> {
        let (&header, piece) = payload.split_first().ok_or(CodecError::EmptyFragment)?;
        if header & FIRST != 0 {
            if header & INDEX != 0 {
                self.reset();
                return Err(CodecError::FragmentOutOfOrder {
                    expected: 0,
                    got: header & INDEX,
                });
            }
            self.buffer.clear();
            self.next_index = Some(1);
        } else {
            let got = header & INDEX;
            match self.next_index {
                Some(expected) if expected == got => self.next_index = Some((got + 1) & INDEX),
                expected => {
                    self.reset();
                    return Err(CodecError::FragmentOutOfOrder {
                        expected: expected.unwrap_or(0),
                        got,
                    });
                }
            }
        }
        self.buffer.extend_from_slice(piece);
        match frame::announced_len(&self.buffer) {
            Err(e) => {
                self.reset();
                Err(e)
            }
            Ok(Some(total)) if self.buffer.len() >= total => {
                let extra = self.buffer.len() - total;
                let frame = std::mem::take(&mut self.buffer);
                self.reset();
                if extra > 0 {
                    Err(CodecError::TrailingBytes(extra))
                } else {
                    Ok(Some(frame))
                }
            }
            Ok(_) => Ok(None),
        }
    }

    fn reset(&mut self) {
        self.buffer.clear();
        self.next_index = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_fragment_fails_the_frame_and_the_next_frame_still_arrives() {
        let frame = frame::seal(0x81, &[7; 50]);
        let pieces = fragment(&frame, DEFAULT_ATT_PAYLOAD);
        let mut r = Reassembler::new();
        assert_eq!(r.push(&pieces[0]), Ok(None));
        assert_eq!(
            r.push(&pieces[2]),
            Err(CodecError::FragmentOutOfOrder { expected: 1, got: 2 })
        );
        let mut out = None;
        for p in &pieces {
            out = r.push(p).unwrap();
        }
        assert_eq!(out, Some(frame));
    }

    #[test]
    fn a_fitted_update_chunk_fills_whole_payloads() {
        use crate::protocol::{Command, MAX_CHUNK_LEN, Request, UPDATE_CHUNK_OVERHEAD, fitted_chunk_len};
        let frame_len = |len: u16| {
            Request::new(
                7,
                Command::UpdateChunk {
                    offset: 0,
                    bytes: vec![0; len as usize],
                },
            )
            .encode()
            .len()
        };
        assert_eq!(frame_len(100), 100 + UPDATE_CHUNK_OVERHEAD);
        let max = MAX_CHUNK_LEN as u16;
        for att_payload in [20, 23, 185, 244] {
            let fitted = fitted_chunk_len(max, att_payload);
            assert!(fitted <= max);
            assert_eq!(frame_len(fitted) % (att_payload - 1), 0, "{att_payload}");
            assert_eq!(
                fragment(&vec![0; frame_len(fitted)], att_payload)
                    .iter()
                    .filter(|p| p.len() < att_payload)
                    .count(),
                0,
                "no part-filled payload at {att_payload}"
            );
        }
        assert_eq!(fitted_chunk_len(max, 244), 472);
        assert_eq!(fitted_chunk_len(max, 0), max, "unknown payload: as asked");
        assert_eq!(
            fitted_chunk_len(50, 244),
            50,
            "shorter than one payload: as asked"
        );
    }
}
