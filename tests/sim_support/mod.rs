//! A minimal central for the simulated-world tests: speaks the wire
//! protocol over a transport [`Link`] — fragments commands, reassembles and
//! decodes what the reader sends, matches responses by request id.
#![allow(dead_code)]

use futures::StreamExt;
use readerlink::protocol::{Command, ErrorCode, ReaderMessage, Reassembler, Request, RequestId, fragment};
use readerlink::reader::SerialNumber;
use readerlink::transport::sim::{SimTransport, SimWorld};
use readerlink::transport::{Link, LinkEvent, LinkLossCause, Transport};
use sha2::{Digest, Sha256};

/// One connected central.
pub struct Central {
    pub link: Link,
    reassembler: Reassembler,
    next_id: RequestId,
    /// Unsolicited messages seen while waiting for responses.
    pub notifications: Vec<ReaderMessage>,
    /// How the link ended, once it has.
    pub lost: Option<LinkLossCause>,
}

impl Central {
    pub fn new(link: Link) -> Self {
        Self {
            link,
            reassembler: Reassembler::new(),
            next_id: 1,
            notifications: Vec::new(),
            lost: None,
        }
    }

    /// Connects through the transport trait.
    pub async fn connect(transport: &SimTransport, serial: &str) -> Self {
        Self::new(transport.connect(&serial.to_string()).await.expect("connect"))
    }

    /// Connects through a fresh transport onto `world`.
    pub async fn connect_in(world: &SimWorld, serial: &str) -> Self {
        Self::connect(&world.transport(), serial).await
    }

    /// Writes a command; returns its request id.
    pub async fn send(&mut self, command: Command) -> RequestId {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let frame = Request::new(id, command).encode();
        for payload in fragment(&frame, self.link.att_payload) {
            self.link.writer.write(payload).await.expect("write");
        }
        id
    }

    /// The next message from the reader; `None` once the link is lost.
    pub async fn next_message(&mut self) -> Option<ReaderMessage> {
        loop {
            match self.link.events.next().await? {
                LinkEvent::NotificationReceived(payload) => {
                    if let Some(frame) = self.reassembler.push(&payload).expect("valid fragments") {
                        return Some(ReaderMessage::decode(&frame).expect("valid frame"));
                    }
                }
                LinkEvent::LinkLost(cause) => {
                    self.lost = Some(cause);
                    return None;
                }
            }
        }
    }

    /// The next response to `id`, keeping notifications aside; `None` if
    /// the link is lost first.
    pub async fn response_to(&mut self, id: RequestId) -> Option<ReaderMessage> {
        loop {
            let message = self.next_message().await?;
            if message.request_id() == Some(id) {
                return Some(message);
            }
            self.notifications.push(message);
        }
    }

    /// Sends a command and waits for its response.
    pub async fn request(&mut self, command: Command) -> Option<ReaderMessage> {
        let id = self.send(command).await;
        self.response_to(id).await
    }

    /// Reads until the link is lost; returns everything the reader said
    /// on the way, and the cause.
    pub async fn until_lost(&mut self) -> (Vec<ReaderMessage>, Option<LinkLossCause>) {
        let mut said = Vec::new();
        while let Some(message) = self.next_message().await {
            said.push(message);
        }
        (said, self.lost)
    }

    /// Installs `image` with up to `window` chunks in flight. Returns the
    /// reader's error, if it refused or failed, and the progress reports.
    pub async fn install(
        &mut self,
        version: &str,
        image: &[u8],
        chunk: usize,
        window: u8,
    ) -> (Result<(), ErrorCode>, Vec<(u32, u32)>) {
        let mut progress = Vec::new();
        let begin = Command::UpdateBegin {
            version: version.into(),
            size: image.len() as u32,
            sha256: Sha256::digest(image).into(),
            window,
        };
        match self.request(begin).await.expect("link up") {
            ReaderMessage::Ack { .. } => {}
            ReaderMessage::Error { code, .. } => return (Err(code), progress),
            other => panic!("unexpected answer to UpdateBegin: {other:?}"),
        }
        let mut acked = 0usize;
        let mut sent = 0usize;
        while acked < image.len() {
            // Fill the window.
            while sent < image.len() && sent < acked + window as usize * chunk {
                let end = (sent + chunk).min(image.len());
                self.send(Command::UpdateChunk {
                    offset: sent as u32,
                    bytes: image[sent..end].to_vec(),
                })
                .await;
                sent = end;
            }
            match self.next_message().await {
                Some(ReaderMessage::UpdateChunkAck { up_to_offset, .. }) => {
                    acked = up_to_offset as usize;
                    sent = sent.max(acked);
                }
                Some(ReaderMessage::UpdateProgress { bytes_written, total }) => {
                    progress.push((bytes_written, total))
                }
                Some(ReaderMessage::Error { code, .. }) => return (Err(code), progress),
                Some(other) => self.notifications.push(other),
                None => panic!("link lost during install: {:?}", self.lost),
            }
        }
        match self.request(Command::UpdateCommit).await.expect("link up") {
            ReaderMessage::Ack { .. } => (Ok(()), progress),
            ReaderMessage::Error { code, .. } => (Err(code), progress),
            other => panic!("unexpected answer to UpdateCommit: {other:?}"),
        }
    }
}

/// Shorthand.
pub fn serial(s: &str) -> SerialNumber {
    SerialNumber::new(s)
}
