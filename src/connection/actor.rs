//! The connection's shell side: how its outputs are carried out.
//!
//! The transport link is split in two local tasks so the actor never waits
//! on IO: a writer that owns the [`LinkWriter`] and writes frames in order
//! (fragmented to the link's ATT payload), and a forwarder that reassembles
//! and decodes notifications and delivers them, and the link's loss, to the
//! actor as inputs. Backend calls run with [`EffectContext::spawn_then`].

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use actix::prelude::*;
use futures::StreamExt;
use futures::channel::mpsc;
use futures::stream::BoxStream;

use super::machine::{Connection, MAX_CHUNKS_IN_FLIGHT};
use super::messages::{BackendCall, ConnectionEvent, ConnectionInput, ConnectionOutput, Session};
use crate::backend::Backend;
use crate::protocol::{Command, ReaderMessage, Reassembler, Request, fragment};
use crate::reader::SerialNumber;
use crate::runtime::shell::{Clock, Deliver, EffectContext, Effects, MachineActor, RestartIntensity};
use crate::runtime::trace::Tracer;
use crate::secret::Secret;
use crate::transport::{LinkEvent, LinkLossCause, LinkWriter, Transport};

/// A connection actor: the [`Connection`] machine run by its shell.
pub type ConnectionActor = MachineActor<Connection, ConnectionEffects>;

/// Where a connection's reports go: called on the actor, in order.
pub type ReportFn = Rc<dyn Fn(ConnectionEvent)>;

/// The update image the connection sends chunks of: put there by the
/// reader's updater once the image passed its checks (R19), shared so its
/// bytes never pass through a machine or the trace.
pub type ImageSlot = Rc<RefCell<Option<Arc<[u8]>>>>;

/// Frames the link writer may hold unwritten: the bounded queue between
/// the machine and the link. The machine keeps at most
/// [`MAX_CHUNKS_IN_FLIGHT`] update chunks unacknowledged and one command
/// pending, so the queue never fills; a frame that finds it full is
/// dropped (and logged), as a lost write would be, and the updater's
/// stall timer resends.
pub const LINK_QUEUE_FRAMES: usize = 2 * MAX_CHUNKS_IN_FLIGHT as usize;

/// The session's link as the shell holds it.
struct LinkHandle {
    session: Session,
    /// Encoded frames to write; dropping it closes the link once the
    /// frames queued before are written. A `futures` channel, not a
    /// `tokio` one: it allocates per queued frame, where a `tokio` channel
    /// holds a block of 32 slots and a cache-padded core (about 1.3 KiB)
    /// for as long as the link lives, which is most of a reader's life.
    ops: mpsc::Sender<Vec<u8>>,
}

impl LinkHandle {
    /// A link handle and the writer's end of its queue, which holds
    /// [`LINK_QUEUE_FRAMES`] frames.
    fn new(session: Session) -> (Self, mpsc::Receiver<Vec<u8>>) {
        // A `futures` channel holds its buffer plus one frame per sender.
        let (ops, frames) = mpsc::channel(LINK_QUEUE_FRAMES - 1);
        (Self { session, ops }, frames)
    }

    /// Queues one encoded frame for the writer.
    fn queue(&mut self, frame: Vec<u8>) {
        if self.ops.try_send(frame).is_err_and(|e| e.is_full()) {
            tracing::warn!(
                session = self.session,
                "the link queue is full: a frame was dropped"
            );
        }
    }
}

/// Carries out a connection's outputs over a transport and a backend.
pub struct ConnectionEffects {
    serial: SerialNumber,
    transport: Arc<dyn Transport>,
    backend: Arc<dyn Backend>,
    report: ReportFn,
    /// The current session's link, from `OpenLink` until `CloseLink`.
    link: Option<LinkHandle>,
    /// The session's connection token. It never enters the machine, a
    /// trace or a log; it is kept for the commands that will need it.
    token: Rc<RefCell<Option<Secret>>>,
    /// The image `SendImageChunks` cuts chunks from.
    image: ImageSlot,
}

impl ConnectionEffects {
    /// Effects for the reader `serial`, reporting through `report`.
    pub fn new(
        serial: SerialNumber,
        transport: Arc<dyn Transport>,
        backend: Arc<dyn Backend>,
        report: ReportFn,
        image: ImageSlot,
    ) -> Self {
        Self {
            serial,
            transport,
            backend,
            report,
            link: None,
            token: Rc::default(),
            image,
        }
    }

    /// Whether the session has a connection token.
    pub fn has_token(&self) -> bool {
        self.token.borrow().is_some()
    }
}

impl Effects<Connection> for ConnectionEffects {
    fn perform(&mut self, output: ConnectionOutput, ctx: &mut EffectContext<'_, Connection, Self>) {
        match output {
            ConnectionOutput::CheckLocation { session, location } => {
                let backend = self.backend.clone();
                ctx.spawn_then("backend", async move {
                    Some(match backend.location(&location).await {
                        Ok(location) => ConnectionInput::LocationFound { session, location },
                        Err(error) => ConnectionInput::BackendCallFailed {
                            session,
                            call: BackendCall::GetLocation,
                            error,
                        },
                    })
                });
            }
            ConnectionOutput::OpenLink { session, peripheral } => {
                let (link, ops_rx) = LinkHandle::new(session);
                self.link = Some(link);
                let transport = self.transport.clone();
                let actor = ctx.address();
                ctx.spawn_then("transport", async move {
                    Some(match transport.connect(&peripheral).await {
                        Ok(link) => {
                            let att_payload = link.att_payload;
                            actix::spawn(write_link(link.writer, ops_rx, att_payload));
                            actix::spawn(forward_link(link.events, actor, session));
                            ConnectionInput::LinkEstablished { session, att_payload }
                        }
                        Err(error) => ConnectionInput::LinkFailed { session, error },
                    })
                });
            }
            ConnectionOutput::Send { session, request } => match &mut self.link {
                Some(link) if link.session == session => {
                    link.queue(request.encode());
                }
                _ => tracing::debug!(reader = %self.serial, session, "dropped a request for a closed link"),
            },
            ConnectionOutput::SendImageChunks {
                session,
                from,
                to,
                chunk_len,
                first_request_id,
            } => match (&mut self.link, self.image.borrow().as_ref()) {
                (Some(link), Some(image)) if link.session == session => {
                    let to = (to as usize).min(image.len());
                    let mut offset = from as usize;
                    let mut id = first_request_id;
                    while offset < to {
                        let end = (offset + chunk_len as usize).min(to);
                        let command = Command::UpdateChunk {
                            offset: offset as u32,
                            bytes: image[offset..end].to_vec(),
                        };
                        link.queue(Request::new(id, command).encode());
                        id = id.wrapping_add(1);
                        offset = end;
                    }
                }
                _ => tracing::debug!(reader = %self.serial, session, "no link or no image for update chunks"),
            },
            ConnectionOutput::FetchConnectionToken { session } => {
                let backend = self.backend.clone();
                let slot = self.token.clone();
                ctx.spawn_then("backend", async move {
                    Some(match backend.connection_token().await {
                        Ok(token) => {
                            *slot.borrow_mut() = Some(token);
                            ConnectionInput::ConnectionTokenFetched { session }
                        }
                        Err(error) => ConnectionInput::BackendCallFailed {
                            session,
                            call: BackendCall::ConnectionToken,
                            error,
                        },
                    })
                });
            }
            ConnectionOutput::RegisterReader { session, request } => {
                let backend = self.backend.clone();
                ctx.spawn_then("backend", async move {
                    Some(match backend.register_reader(request).await {
                        Ok(registration) => ConnectionInput::ReaderRegistered {
                            session,
                            registration,
                        },
                        Err(error) => ConnectionInput::BackendCallFailed {
                            session,
                            call: BackendCall::RegisterReader,
                            error,
                        },
                    })
                });
            }
            ConnectionOutput::CloseLink { session } => {
                if self.link.as_ref().is_some_and(|l| l.session == session) {
                    // Dropped: the writer writes what is queued, then closes.
                    self.link.take();
                    self.token.borrow_mut().take();
                }
            }
            ConnectionOutput::Report(event) => {
                if matches!(
                    event,
                    ConnectionEvent::Disconnected { .. } | ConnectionEvent::ConnectFailed { .. }
                ) {
                    self.link = None;
                    self.token.borrow_mut().take();
                }
                (self.report)(event);
            }
        }
    }

    /// The machine panicked and a fresh one (in `disconnected`) replaced
    /// it: the session it ran is lost. Its link is closed; the owner is
    /// told, and decides how the session ended (it knows whether a connect
    /// ran or the reader was connected).
    fn machine_restarted(&mut self, panic: &str, _ctx: &mut EffectContext<'_, Connection, Self>) {
        tracing::error!(reader = %self.serial, "the connection machine restarted: {panic}");
        self.session_lost(panic, false);
    }

    /// The machine panicked past its restart intensity and the actor
    /// stops: the link is closed and the owner told, so no call waits
    /// forever and no status lies.
    fn machine_gave_up(&mut self, panic: &str, _ctx: &mut EffectContext<'_, Connection, Self>) {
        tracing::error!(reader = %self.serial, "the connection machine failed: {panic}");
        self.session_lost(panic, true);
    }
}

impl ConnectionEffects {
    /// Closes the link of the session a panicked machine took with it and
    /// tells the owner.
    fn session_lost(&mut self, panic: &str, for_good: bool) {
        // Dropped: the writer writes what is queued, then closes.
        self.link.take();
        self.token.borrow_mut().take();
        (self.report)(ConnectionEvent::MachineFailed {
            panic: panic.to_owned(),
            for_good,
        });
    }
}

/// What a connection actor is started with.
pub(crate) struct ConnectionParts {
    /// The reader it connects.
    pub serial: SerialNumber,
    /// The link to readers.
    pub transport: Arc<dyn Transport>,
    /// The backend (location, token, registration).
    pub backend: Arc<dyn Backend>,
    /// Where its reports go (the reader's session).
    pub report: ReportFn,
    /// Where its records go.
    pub tracer: Tracer,
    /// The runtime's clock.
    pub clock: Clock,
    /// How often its machine may be restarted after a panic.
    pub restarts: RestartIntensity,
    /// The checked update image it sends chunks from (the updater puts it).
    pub image: ImageSlot,
}

/// Starts a connection actor for `parts.serial` on the current arbiter,
/// its machine restarted after a panic within `parts.restarts`. Its id in
/// the trace is `connection:<serial>`.
pub(crate) fn start_connection(parts: ConnectionParts) -> Addr<ConnectionActor> {
    let ConnectionParts {
        serial,
        transport,
        backend,
        report,
        tracer,
        clock,
        restarts,
        image,
    } = parts;
    let id = format!("connection:{serial}");
    let effects = ConnectionEffects::new(serial, transport, backend, report, image);
    MachineActor::new(id, Connection::new(), effects, tracer, clock)
        .restart_with(restarts.policy(Connection::new))
        .start()
}

/// Writes frames in order, each cut to the link's ATT payload and every
/// payload awaited (a write waits for its connection event), until the
/// connection drops its sender (then closes the link).
async fn write_link(writer: Box<dyn LinkWriter>, mut frames: mpsc::Receiver<Vec<u8>>, att_payload: usize) {
    while let Some(frame) = frames.next().await {
        for payload in fragment(&frame, att_payload) {
            if let Err(e) = writer.write(payload).await {
                // The link's loss reaches the machine through the event
                // stream; the rest of this frame is moot.
                tracing::debug!("write failed: {e}");
                break;
            }
        }
    }
    let _ = writer.disconnect().await;
}

/// Reassembles and decodes the link's notifications and delivers them, and
/// the link's loss, to the connection actor.
async fn forward_link(
    mut events: BoxStream<'static, LinkEvent>,
    actor: Addr<ConnectionActor>,
    session: Session,
) {
    let mut reassembler = Reassembler::new();
    let deliver = |input| actor.do_send(Deliver::from("transport", input));
    while let Some(event) = events.next().await {
        match event {
            LinkEvent::NotificationReceived(payload) => match reassembler.push(&payload) {
                Ok(None) => {}
                Ok(Some(frame)) => match ReaderMessage::decode(&frame) {
                    Ok(message) => deliver(ConnectionInput::FrameReceived { session, message }),
                    Err(e) => deliver(ConnectionInput::FrameUndecodable {
                        session,
                        error: e.to_string(),
                    }),
                },
                Err(e) => deliver(ConnectionInput::FrameUndecodable {
                    session,
                    error: e.to_string(),
                }),
            },
            LinkEvent::LinkLost(cause) => {
                deliver(ConnectionInput::LinkLost { session, cause });
                return;
            }
        }
    }
    // A stream that ends without saying why: the peer is gone.
    deliver(ConnectionInput::LinkLost {
        session,
        cause: LinkLossCause::RemoteClosed,
    });
}

#[cfg(test)]
mod tests;
