//! The hub machine and one reader's session machine on Harnesses, wired as
//! their shells wire them: the hub's `ToSession` outputs are the session's
//! inputs, the session's `ToHub` reports are the hub's. The test plays the
//! session's children (connection, reconnect supervisor). A session's
//! idle word (`ToHubIdle`) is not carried, so the rig keeps every session
//! (`an_idle_session_is_released_only_when_no_call_is_on_its_way_to_it.rs`
//! wires the release by hand).

#![allow(dead_code)]

use readerlink::connection::ConnectionEvent;
use readerlink::reader::{ConnectionStatus, DisconnectReason, Reader};
use readerlink::reconnect::ReconnectEvent;
use readerlink::runtime::Harness;
use readerlink::session::{Session, SessionInput, SessionOutput};
use readerlink::terminal::{Hub, TerminalEvent, TerminalInput, TerminalOutput};
use readerlink::updater::UpdaterInput;

/// The hub, and a session per reader it routed to.
pub struct HubRig {
    pub hub: Harness<Hub>,
    pub sessions: Vec<(Reader, Harness<Session>)>,
    /// Hub outputs already carried to the sessions.
    carried: usize,
    /// Whether the rig plays an updater with nothing to install: every
    /// connect the session tells it of may proceed at once (R13).
    pub updater_lets_connects_proceed: bool,
}

impl HubRig {
    pub fn new() -> Self {
        Self {
            hub: Harness::new(Hub::new()),
            sessions: Vec::new(),
            carried: 0,
            updater_lets_connects_proceed: true,
        }
    }

    /// An input to the hub, and whatever it leads to between hub and sessions.
    pub fn input(&mut self, input: TerminalInput) {
        self.hub.input(input);
        self.pump();
    }

    /// One reader's connection reports `event` to its session.
    pub fn reported(&mut self, serial: &str, event: ConnectionEvent) {
        self.deliver(serial, SessionInput::from(event));
    }

    /// One reader's supervisor reports `event` to its session.
    pub fn supervisor(&mut self, serial: &str, event: ReconnectEvent) {
        self.deliver(serial, SessionInput::from(event));
    }

    pub fn status(&mut self, serial: &str, status: ConnectionStatus) {
        self.reported(serial, ConnectionEvent::StatusChanged { status });
    }

    /// Delivers `input` to a reader's session, as one of its children would.
    pub fn deliver(&mut self, serial: &str, input: SessionInput) {
        let i = self.index(serial).expect("the reader has a session");
        let outputs = self.sessions[i].1.input(input);
        let connects = outputs
            .iter()
            .filter(|o| matches!(o, SessionOutput::ToUpdater(UpdaterInput::ReaderConnected(_))))
            .count();
        self.deliver_reports(serial, outputs);
        self.pump();
        if self.updater_lets_connects_proceed {
            for _ in 0..connects {
                self.deliver(serial, SessionInput::UpdateConnectMayProceed);
            }
        }
    }

    fn index(&self, serial: &str) -> Option<usize> {
        self.sessions
            .iter()
            .position(|(r, _)| r.serial_number.as_str() == serial)
    }

    fn deliver_reports(&mut self, serial: &str, outputs: Vec<SessionOutput>) {
        for output in outputs {
            if let SessionOutput::ToHub(report) = output {
                self.hub.input(TerminalInput::SessionReported {
                    serial_number: serial.into(),
                    report,
                });
            }
        }
    }

    /// Carries the hub's `ToSession` outputs to the sessions until quiet.
    fn pump(&mut self) {
        while self.carried < self.hub.outputs().len() {
            let (_, output) = self.hub.outputs()[self.carried].clone();
            self.carried += 1;
            if let TerminalOutput::ToSession { serial_number, input } = output {
                if self.index(serial_number.as_str()).is_none() {
                    let SessionInput::ConnectRequested { reader, .. } = &input else {
                        panic!("a session starts with a connect");
                    };
                    self.sessions
                        .push((reader.clone(), Harness::new(Session::new(reader.clone()))));
                }
                let i = self.index(serial_number.as_str()).unwrap();
                let outputs = self.sessions[i].1.input(input);
                self.deliver_reports(serial_number.as_str(), outputs);
            }
        }
    }

    pub fn session(&self, serial: &str) -> &Harness<Session> {
        &self.sessions[self.index(serial).expect("the reader has a session")].1
    }

    pub fn note(&mut self, text: &str) {
        self.hub.note(text);
        for (_, session) in &mut self.sessions {
            session.note(text);
        }
    }

    /// What the hub published since its output `from`.
    pub fn published(&self, from: usize) -> Vec<TerminalEvent> {
        self.hub.outputs()[from..]
            .iter()
            .filter_map(|(_, o)| match o {
                TerminalOutput::Publish(event) => Some(event.clone()),
                _ => None,
            })
            .collect()
    }

    /// The hub's transition log, then each session's.
    pub fn log(&self) -> String {
        let mut log = format!("== hub\n{}", self.hub.log());
        for (reader, session) in &self.sessions {
            log.push_str(&format!("== session:{}\n{}", reader.serial_number, session.log()));
        }
        log
    }
}

/// An M2 as discovery lists it.
pub fn m2(serial: &str) -> Reader {
    Reader {
        serial_number: serial.into(),
        device_type: readerlink::reader::DeviceType::StripeM2,
        software_version: None,
        battery: None,
        rssi: Some(-50),
        peripheral: serial.into(),
        available_update: None,
    }
}

/// A hub with the M2 `serial` connected to `tml_000001`.
pub fn connected(serial: &str) -> HubRig {
    let mut h = linked(serial, true);
    h.note("connected");
    h
}

/// A hub whose connect of the M2 `serial` to `tml_000001` linked and
/// registered the reader; the updater lets it proceed at once or not
/// (`updater_proceeds`: then the test plays the updater's word).
pub fn linked(serial: &str, updater_proceeds: bool) -> HubRig {
    let mut h = HubRig::new();
    h.updater_lets_connects_proceed = updater_proceeds;
    h.input(TerminalInput::ReadersDiscovered {
        readers: vec![m2(serial)],
    });
    h.input(TerminalInput::ConnectReaderRequested {
        call: 1,
        reader: m2(serial),
        config: readerlink::terminal::ConnectionConfig::new("tml_000001"),
    });
    h.status(serial, ConnectionStatus::Connecting);
    h.status(serial, ConnectionStatus::Connected);
    h.reported(
        serial,
        ConnectionEvent::Connected {
            reader: m2(serial),
            location: "tml_000001".into(),
            uptime_ms: 0,
        },
    );
    h
}

/// The M2 `serial` is reconnecting after a lost signal and its first
/// attempt's connect runs.
pub fn attempting(serial: &str) -> HubRig {
    let mut h = connected(serial);
    h.status(serial, ConnectionStatus::NotConnected);
    h.reported(
        serial,
        ConnectionEvent::Disconnected {
            reason: DisconnectReason::BluetoothSignalLost,
        },
    );
    h.supervisor(
        serial,
        ReconnectEvent::Started {
            reason: DisconnectReason::BluetoothSignalLost,
        },
    );
    h.supervisor(serial, ReconnectEvent::AttemptDue { attempt: 1 });
    h
}

/// The answer to `call`, as its error code or `ok`.
pub fn answer(h: &HubRig, call: u64) -> Option<String> {
    h.hub.outputs().iter().find_map(|(_, o)| match o {
        TerminalOutput::Reply { call: c, result } if *c == call => Some(match result {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.code().to_owned(),
        }),
        _ => None,
    })
}
