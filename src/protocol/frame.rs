//! The frame envelope shared by both directions: version, opcode, length,
//! body, CRC — and the small error enum every decoder in this protocol
//! returns.
//!
//! Layout of one frame (integers little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | protocol version, [`PROTOCOL_VERSION`] |
//! | 1 | 1 | opcode ([`super::CommandOpcode`] app → reader, [`super::MessageOpcode`] reader → app) |
//! | 2 | 2 | body length `n`, at most [`MAX_BODY_LEN`] |
//! | 4 | n | body; for commands and responses it starts with the 2-byte request id |
//! | 4 + n | 2 | CRC-16/IBM-SDLC (the X.25 CRC) over bytes `0 .. 4 + n` |
//!
//! A frame is then cut into ATT payloads by [`mod@super::fragment`].

use crc::{CRC_16_IBM_SDLC, Crc};

/// The protocol version this code reads and writes.
pub const PROTOCOL_VERSION: u8 = 1;
/// Bytes before the body: version, opcode, body length.
pub const HEADER_LEN: usize = 4;
/// Bytes after the body: the CRC.
pub const CRC_LEN: usize = 2;
/// The longest body a frame carries (an update chunk of
/// [`super::MAX_CHUNK_LEN`] bytes plus its fields fits).
pub const MAX_BODY_LEN: usize = 600;
/// The longest frame on the wire.
pub const MAX_FRAME_LEN: usize = HEADER_LEN + MAX_BODY_LEN + CRC_LEN;

const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_SDLC);

/// Why bytes could not be decoded into a frame. Every decoder of the wire
/// protocol returns this; none panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Fewer bytes than the frame (or a field) needs.
    #[error("frame truncated: needed {needed} bytes, had {len}")]
    Truncated {
        /// Bytes needed to read the next field.
        needed: usize,
        /// Bytes present.
        len: usize,
    },
    /// A protocol version this code does not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
    /// The body length is above [`MAX_BODY_LEN`].
    #[error("frame body of {len} bytes exceeds the maximum of {max}")]
    TooLong {
        /// The announced body length.
        len: usize,
        /// [`MAX_BODY_LEN`].
        max: usize,
    },
    /// The CRC does not match: the frame was corrupted.
    #[error("frame checksum mismatch: frame says {expected:#06x}, bytes give {computed:#06x}")]
    ChecksumMismatch {
        /// The CRC carried by the frame.
        expected: u16,
        /// The CRC of the bytes received.
        computed: u16,
    },
    /// An opcode unknown in this direction.
    #[error("unknown opcode {0:#04x}")]
    UnknownOpcode(u8),
    /// A field holds a value outside its domain.
    #[error("invalid `{field}` in frame body")]
    InvalidField {
        /// Which field.
        field: &'static str,
    },
    /// Bytes left over after the last field of the body, or after the frame.
    #[error("{0} unexpected trailing bytes")]
    TrailingBytes(usize),
    /// An ATT payload was empty (no fragment header).
    #[error("empty ATT payload")]
    EmptyFragment,
    /// A fragment arrived out of sequence: one was lost, or a frame's
    /// continuation came without its first fragment.
    #[error("fragment {got} arrived where fragment {expected} was expected")]
    FragmentOutOfOrder {
        /// The fragment index expected next.
        expected: u8,
        /// The fragment index received.
        got: u8,
    },
}

/// Wraps a body into a frame: header, body, CRC.
///
/// Bodies are built by this crate's encoders and never exceed
/// [`MAX_BODY_LEN`] for valid values (strings and chunks are bounded), so the
/// length always fits its field.
pub fn seal(opcode: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len() + CRC_LEN);
    out.push(PROTOCOL_VERSION);
    out.push(opcode);
    out.extend_from_slice(&(body.len() as u16).to_le_bytes());
    out.extend_from_slice(body);
    let crc = CRC16.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The body length announced by a frame's header, once at least
/// [`HEADER_LEN`] bytes are present; checks version and maximum length.
pub fn announced_len(bytes: &[u8]) -> Result<Option<usize>, CodecError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    if bytes[0] != PROTOCOL_VERSION {
        return Err(CodecError::UnsupportedVersion(bytes[0]));
    }
    if bytes.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = u16::from_le_bytes([bytes[2], bytes[3]]) as usize;
    if len > MAX_BODY_LEN {
        return Err(CodecError::TooLong {
            len,
            max: MAX_BODY_LEN,
        });
    }
    Ok(Some(HEADER_LEN + len + CRC_LEN))
}

/// Checks a whole frame (version, length, CRC, nothing trailing) and
/// returns its opcode and body.
pub fn open(bytes: &[u8]) -> Result<(u8, &[u8]), CodecError> {
    let total = announced_len(bytes)?.ok_or(CodecError::Truncated {
        needed: HEADER_LEN,
        len: bytes.len(),
    })?;
    if bytes.len() < total {
        return Err(CodecError::Truncated {
            needed: total,
            len: bytes.len(),
        });
    }
    if bytes.len() > total {
        return Err(CodecError::TrailingBytes(bytes.len() - total));
    }
    let (covered, crc) = bytes.split_at(total - CRC_LEN);
    let expected = u16::from_le_bytes([crc[0], crc[1]]);
    let computed = CRC16.checksum(covered);
    if expected != computed {
        return Err(CodecError::ChecksumMismatch { expected, computed });
    }
    Ok((bytes[1], &covered[HEADER_LEN..]))
}

/// Appends fields to a body.
#[derive(Debug, Default)]
pub(crate) struct BodyWriter(pub(crate) Vec<u8>);

impl BodyWriter {
    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub(crate) fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn f32(&mut self, v: f32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(v);
        self
    }
    /// A string of at most 255 bytes, length-prefixed; longer ones are cut
    /// at a character boundary.
    pub(crate) fn str(&mut self, v: &str) -> &mut Self {
        let mut end = v.len().min(u8::MAX as usize);
        while !v.is_char_boundary(end) {
            end -= 1;
        }
        self.u8(end as u8).bytes(&v.as_bytes()[..end])
    }
}

/// Reads fields from a body, failing with [`CodecError::Truncated`] instead
/// of panicking.
#[derive(Debug)]
pub(crate) struct BodyReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> BodyReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let field = self
            .bytes
            .get(self.at..self.at.saturating_add(n))
            .ok_or(CodecError::Truncated {
                needed: HEADER_LEN + self.at.saturating_add(n),
                len: HEADER_LEN + self.bytes.len(),
            })?;
        self.at += n;
        Ok(field)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, CodecError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, CodecError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, CodecError> {
        let b = self.take(8)?;
        let mut bytes = [0; 8];
        bytes.copy_from_slice(b);
        Ok(u64::from_le_bytes(bytes))
    }
    pub(crate) fn f32(&mut self) -> Result<f32, CodecError> {
        let b = self.take(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn bool(&mut self, field: &'static str) -> Result<bool, CodecError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(CodecError::InvalidField { field }),
        }
    }
    pub(crate) fn str(&mut self, field: &'static str) -> Result<String, CodecError> {
        let len = self.u8()? as usize;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| CodecError::InvalidField { field })
    }
    /// Fails unless every byte was read.
    pub(crate) fn finish(self) -> Result<(), CodecError> {
        match self.bytes.len() - self.at {
            0 => Ok(()),
            n => Err(CodecError::TrailingBytes(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_frame_opens_to_its_opcode_and_body() {
        let frame = seal(0x42, b"body");
        assert_eq!(open(&frame), Ok((0x42, &b"body"[..])));
    }

    #[test]
    fn a_flipped_bit_is_caught_by_the_checksum() {
        let mut frame = seal(0x42, b"body");
        frame[5] ^= 0x01;
        assert!(matches!(open(&frame), Err(CodecError::ChecksumMismatch { .. })));
    }

    #[test]
    fn an_oversized_length_is_rejected_before_reading_the_body() {
        let frame = [PROTOCOL_VERSION, 1, 0xff, 0xff];
        assert_eq!(
            announced_len(&frame),
            Err(CodecError::TooLong {
                len: 0xffff,
                max: MAX_BODY_LEN
            })
        );
    }
}
