//! [`Transaction`]: a payment in progress on a reader (R20).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix::Addr;

use super::actor::{Calls, HubActor};
use super::messages::{TerminalError, TerminalInput};
use crate::reader::SerialNumber;
use crate::runtime::shell::Deliver;

/// A transaction running on a reader, from
/// [`super::Terminal::start_transaction`]. While it runs the reader is
/// never rebooted (R20): `reboot_reader` answers `transaction_in_progress`
/// and the 24-hour reboot waits for its end. It ends with [`Self::end`],
/// or when it is dropped, or with the reader's connection; a handle kept
/// past its connection's end ends nothing: not the transaction the reader
/// runs after a reconnection.
#[derive(Debug)]
pub struct Transaction {
    serial_number: SerialNumber,
    hub: Addr<HubActor>,
    calls: Calls,
    next_call: Arc<AtomicU64>,
    /// The call that started it: its id at the reader's session.
    id: u64,
    ended: bool,
}

impl Transaction {
    pub(super) fn new(
        serial_number: SerialNumber,
        hub: Addr<HubActor>,
        calls: Calls,
        next_call: Arc<AtomicU64>,
        id: u64,
    ) -> Self {
        Self {
            serial_number,
            hub,
            calls,
            next_call,
            id,
            ended: false,
        }
    }

    /// The reader it runs on.
    pub fn serial_number(&self) -> &SerialNumber {
        &self.serial_number
    }

    /// Ends the transaction; answers once the reader has ended it (a
    /// reader no longer connected has ended it already: `Ok`).
    pub async fn end(mut self) -> Result<(), TerminalError> {
        self.ended = true;
        let call = self.next_call.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = tokio::sync::oneshot::channel();
        if !self.hub.connected() {
            return Err(TerminalError::Stopped);
        }
        super::lock(&self.calls).insert(call, tx);
        self.hub
            .do_send(Deliver::app(TerminalInput::TransactionEndRequested {
                call,
                serial_number: self.serial_number.clone(),
                transaction: self.id,
            }));
        match rx.await.unwrap_or(Err(TerminalError::Stopped)) {
            Ok(_) | Err(TerminalError::NotConnected { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Transaction {
    /// A dropped transaction ends; nobody waits for the answer.
    fn drop(&mut self) {
        if !self.ended {
            let call = self.next_call.fetch_add(1, Ordering::Relaxed);
            self.hub
                .do_send(Deliver::app(TerminalInput::TransactionEndRequested {
                    call,
                    serial_number: self.serial_number.clone(),
                    transaction: self.id,
                }));
        }
    }
}
