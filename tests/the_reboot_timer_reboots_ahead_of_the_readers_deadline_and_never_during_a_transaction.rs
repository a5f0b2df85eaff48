//! The 24-hour reboot timer (R12, R20), machine level on virtual time: it
//! counts from the uptime the reader reports at connect, asks for the
//! reboot a lead (10 min) before the reader's own 24-hour deadline, waits
//! for a running transaction to end, never arms for a Chipper 2X, and
//! re-arms from the new uptime after the app's reboot. The property test
//! drives it as its owner would, against a model reader that reboots
//! itself at 24 h, over random transactions, app reboots, link losses and
//! time: no reboot is ever asked while a transaction runs.

mod common;

use std::time::Duration;

use proptest::prelude::*;
use readerlink::reader::DeviceType;
use readerlink::reboot::{
    DEFAULT_REBOOT_LEAD, READER_REBOOTS_AFTER, RebootInput, RebootOutput, RebootPolicy, RebootTimer,
};
use readerlink::runtime::{Harness, Millis};

const SECOND: Millis = 1000;
const MINUTE: Millis = 60 * SECOND;
const HOUR: Millis = 60 * MINUTE;
/// How long a rebooting reader takes to come back (the simulated reader's
/// boot plus a reconnect, roughly).
const BACK_AFTER: Millis = 3 * SECOND + 200;

fn connected(device_type: DeviceType, uptime_ms: Millis) -> RebootInput {
    RebootInput::ReaderConnected {
        device_type,
        uptime_ms,
    }
}

fn reboots(outputs: &[RebootOutput]) -> usize {
    outputs
        .iter()
        .filter(|o| **o == RebootOutput::RebootReader)
        .count()
}

/// The times at which the harness's machine asked for a reboot.
fn reboot_times(h: &Harness<RebootTimer>) -> Vec<Millis> {
    h.outputs()
        .iter()
        .filter(|(_, o)| *o == RebootOutput::RebootReader)
        .map(|(t, _)| *t)
        .collect()
}

fn scheduled(h: &Harness<RebootTimer>) -> Vec<Millis> {
    h.outputs()
        .iter()
        .filter_map(|(_, o)| match o {
            RebootOutput::RebootScheduled { at } => Some(*at),
            _ => None,
        })
        .collect()
}

/// The owner carries out the reboot: the reader disconnects, boots and is
/// reconnected with a fresh uptime.
fn reader_reboots(h: &mut Harness<RebootTimer>, device_type: DeviceType) {
    h.input(RebootInput::ReaderDisconnected);
    h.advance(Duration::from_millis(BACK_AFTER));
    h.input(connected(device_type, 200));
}

#[test]
fn a_wisepad_3_idle_for_a_day_is_rebooted_ten_minutes_before_its_own_deadline_and_rearmed() {
    let _snapshots = common::snapshots();
    let mut h = Harness::new(RebootTimer::default());
    h.note("a WisePad 3 that just booted connects");
    let out = h.input(connected(DeviceType::WisePad3, 0));
    assert_eq!(
        out,
        [RebootOutput::RebootScheduled {
            at: 23 * HOUR + 50 * MINUTE
        }]
    );
    assert_eq!(h.state(), "idle");
    assert_eq!(h.machine().due_at(), Some(23 * HOUR + 50 * MINUTE));
    let out = h.advance(Duration::from_millis(23 * HOUR + 50 * MINUTE));
    assert_eq!(reboots(&out), 1);
    assert_eq!(
        reboot_times(&h),
        [23 * HOUR + 50 * MINUTE],
        "10 min before the reader's 24 h"
    );
    assert_eq!(h.state(), "rebooting");
    assert_eq!(h.machine().due_at(), None);
    h.note("the reader reboots (security) and is reconnected");
    reader_reboots(&mut h, DeviceType::WisePad3);
    assert_eq!(h.state(), "idle");
    let next = 23 * HOUR + 50 * MINUTE + BACK_AFTER + 23 * HOUR + 50 * MINUTE - 200;
    assert_eq!(scheduled(&h).last(), Some(&next));
    h.note("a second idle day");
    h.advance(Duration::from_millis(24 * HOUR));
    assert_eq!(reboot_times(&h).last(), Some(&next));
    insta::assert_snapshot!("reboot_timer_wisepad_idle_for_a_day", h.log());
}

#[test]
fn a_reader_reporting_23_hours_of_uptime_at_connect_is_rebooted_within_the_hour() {
    let _snapshots = common::snapshots();
    let mut h = Harness::new(RebootTimer::default());
    h.advance(Duration::from_millis(5 * MINUTE));
    h.input(connected(DeviceType::StripeM2, 23 * HOUR));
    h.advance(Duration::from_millis(HOUR));
    assert_eq!(reboot_times(&h), [5 * MINUTE + 50 * MINUTE]);
    insta::assert_snapshot!("reboot_timer_23_hours_at_connect", h.log());
}

#[test]
fn a_reader_connected_past_its_reboot_time_is_rebooted_at_once() {
    for uptime in [23 * HOUR + 55 * MINUTE, 24 * HOUR, 30 * HOUR] {
        let mut h = Harness::new(RebootTimer::default());
        h.advance(Duration::from_millis(HOUR));
        h.input(connected(DeviceType::WisePad3, uptime));
        h.advance(Duration::ZERO);
        assert_eq!(reboot_times(&h), [HOUR], "uptime {uptime} ms");
        assert_eq!(scheduled(&h), [HOUR]);
    }
}

#[test]
fn a_chipper_2x_connected_for_48_hours_never_arms() {
    let mut h = Harness::new(RebootTimer::default());
    h.input(connected(DeviceType::Chipper2X, 20 * HOUR));
    for _ in 0..4 {
        h.advance(Duration::from_millis(12 * HOUR));
        h.input(RebootInput::TransactionStarted);
        h.input(RebootInput::TransactionEnded);
    }
    assert_eq!(h.state(), "disarmed");
    assert!(h.outputs().is_empty(), "{:?}", h.outputs());
    assert!(h.armed_timers().is_empty());
}

#[test]
fn a_reboot_due_during_a_transaction_waits_until_it_ends() {
    let _snapshots = common::snapshots();
    let mut h = Harness::new(RebootTimer::default());
    h.input(connected(DeviceType::StripeM2, 0));
    h.advance(Duration::from_millis(23 * HOUR + 45 * MINUTE));
    h.note("a payment starts 5 minutes before the reboot is due");
    h.input(RebootInput::TransactionStarted);
    assert_eq!(h.state(), "in_transaction");
    let out = h.advance(Duration::from_millis(7 * MINUTE));
    assert_eq!(reboots(&out), 0, "no reboot during the transaction (R20)");
    assert_eq!(h.state(), "due_waiting_for_idle");
    h.note("the payment ends");
    let out = h.input(RebootInput::TransactionEnded);
    assert_eq!(out, [RebootOutput::RebootReader]);
    assert_eq!(reboot_times(&h), [23 * HOUR + 52 * MINUTE]);
    insta::assert_snapshot!("reboot_timer_waits_for_the_transaction", h.log());
}

#[test]
fn a_transaction_that_ends_before_the_deadline_changes_nothing() {
    let mut h = Harness::new(RebootTimer::default());
    h.input(connected(DeviceType::StripeM2, 0));
    h.advance(Duration::from_millis(HOUR));
    h.input(RebootInput::TransactionStarted);
    h.input(RebootInput::TransactionStarted);
    h.advance(Duration::from_millis(MINUTE));
    h.input(RebootInput::TransactionEnded);
    h.input(RebootInput::TransactionEnded);
    assert_eq!(h.state(), "idle");
    h.advance(Duration::from_millis(24 * HOUR));
    assert_eq!(reboot_times(&h), [23 * HOUR + 50 * MINUTE]);
}

#[test]
fn the_apps_reboot_at_10_hours_moves_the_next_reboot_to_about_34_hours() {
    let _snapshots = common::snapshots();
    let mut h = Harness::new(RebootTimer::default());
    h.input(connected(DeviceType::WisePad3, 0));
    h.advance(Duration::from_millis(10 * HOUR));
    h.note("the app reboots the reader (reboot_reader)");
    reader_reboots(&mut h, DeviceType::WisePad3);
    let out = h.advance(Duration::from_millis(30 * HOUR));
    assert_eq!(reboots(&out), 1);
    let at = reboot_times(&h)[0];
    let expected = 10 * HOUR + BACK_AFTER + 23 * HOUR + 50 * MINUTE - 200;
    assert_eq!(at, expected);
    assert!(
        (33 * HOUR + 50 * MINUTE..34 * HOUR).contains(&at),
        "about 10 h + 24 h - lead: {at}"
    );
    insta::assert_snapshot!("reboot_timer_apps_reboot_restarts_the_window", h.log());
}

#[test]
fn a_lost_link_rearms_from_the_uptime_the_reader_reports_when_it_is_back() {
    let mut h = Harness::new(RebootTimer::default());
    h.input(connected(DeviceType::StripeM2, 2 * HOUR));
    h.advance(Duration::from_millis(10 * HOUR));
    h.input(RebootInput::ReaderDisconnected);
    assert_eq!(h.state(), "disarmed");
    assert!(h.armed_timers().is_empty());
    h.advance(Duration::from_millis(30 * SECOND));
    // The reader kept running: 12 h 30 s of uptime.
    h.input(connected(DeviceType::StripeM2, 12 * HOUR + 30 * SECOND));
    h.advance(Duration::from_millis(24 * HOUR));
    assert_eq!(
        reboot_times(&h),
        [21 * HOUR + 50 * MINUTE],
        "the same deadline as before the loss"
    );
}

#[test]
fn a_connect_report_while_armed_or_rebooting_rearms_from_its_uptime() {
    let mut h = Harness::new(RebootTimer::default());
    h.input(connected(DeviceType::StripeM2, 0));
    h.advance(Duration::from_millis(HOUR));
    // A reconnect whose disconnect the owner did not pass on.
    h.input(connected(DeviceType::StripeM2, 23 * HOUR));
    assert_eq!(h.state(), "idle");
    assert_eq!(h.machine().due_at(), Some(HOUR + 50 * MINUTE));
    h.advance(Duration::from_millis(HOUR));
    assert_eq!(h.state(), "rebooting");
    h.input(connected(DeviceType::StripeM2, 100));
    assert_eq!(h.state(), "idle");
    // A Chipper report (another reader's, misrouted) disarms it, armed or
    // rebooting.
    h.input(connected(DeviceType::Chipper2X, 0));
    assert_eq!(h.state(), "disarmed");
    h.input(connected(DeviceType::StripeM2, 24 * HOUR));
    h.advance(Duration::ZERO);
    assert_eq!(h.state(), "rebooting");
    h.input(connected(DeviceType::Chipper2X, 0));
    assert_eq!(h.state(), "disarmed");
    assert!(h.armed_timers().is_empty());
}

#[test]
fn a_failed_reboot_is_retried_after_a_minute_and_a_racing_transaction_makes_it_wait() {
    let mut h = Harness::new(RebootTimer::new(RebootPolicy {
        lead: Duration::from_secs(30 * 60),
        ..RebootPolicy::default()
    }));
    h.input(connected(DeviceType::WisePad3, 0));
    h.advance(Duration::from_millis(24 * HOUR));
    assert_eq!(reboot_times(&h), [23 * HOUR + 30 * MINUTE], "a 30-minute lead");
    h.input(RebootInput::RebootFailed);
    assert_eq!(h.state(), "idle");
    assert_eq!(scheduled(&h).last(), Some(&(24 * HOUR + MINUTE)));
    h.advance(Duration::from_millis(MINUTE));
    assert_eq!(reboot_times(&h).len(), 2, "retried");
    assert_eq!(h.state(), "rebooting");
    // A transaction was asked for as the reboot went out: the reader will
    // refuse the reboot; the timer waits for the transaction.
    h.input(RebootInput::TransactionStarted);
    assert_eq!(h.state(), "due_waiting_for_idle");
    h.input(RebootInput::RebootFailed);
    h.advance(Duration::from_millis(HOUR));
    assert_eq!(reboot_times(&h).len(), 2, "nothing while the transaction runs");
    h.input(RebootInput::TransactionEnded);
    assert_eq!(reboot_times(&h).len(), 3);
    h.input(RebootInput::ReaderDisconnected);
    assert_eq!(h.state(), "disarmed");
}

#[test]
fn the_due_time_is_24_hours_less_the_lead_less_the_uptime_never_negative() {
    let policy = RebootPolicy::default();
    assert_eq!(policy.lead, DEFAULT_REBOOT_LEAD);
    assert_eq!(READER_REBOOTS_AFTER, Duration::from_secs(24 * 3600));
    assert_eq!(policy.due_after(0), Duration::from_secs(23 * 3600 + 50 * 60));
    assert_eq!(policy.due_after(23 * HOUR), Duration::from_secs(50 * 60));
    assert_eq!(policy.due_after(23 * HOUR + 55 * MINUTE), Duration::ZERO);
    assert_eq!(policy.due_after(u64::MAX), Duration::ZERO);
}

#[test]
fn the_actor_fires_its_timer_on_virtual_time_and_hands_every_output_to_its_owner() {
    use std::cell::RefCell;
    use std::rc::Rc;

    use readerlink::reboot::start_reboot_timer;
    use readerlink::runtime::{Clock, Deliver, Tracer, virtual_time_system};

    virtual_time_system().block_on(async {
        let outputs: Rc<RefCell<Vec<(Millis, RebootOutput)>>> = Rc::default();
        let sink = outputs.clone();
        let clock = Clock::start();
        let stamp = clock;
        let timer = start_reboot_timer(
            "WPC32-0001".into(),
            RebootPolicy::default(),
            Rc::new(move |output| sink.borrow_mut().push((stamp.now_ms(), output))),
            Tracer::off(),
            clock,
        );
        timer.do_send(Deliver::from("test", connected(DeviceType::WisePad3, 23 * HOUR)));
        tokio::time::sleep(Duration::from_millis(HOUR)).await;
        assert_eq!(
            *outputs.borrow(),
            [
                (0, RebootOutput::RebootScheduled { at: 50 * MINUTE }),
                (50 * MINUTE, RebootOutput::RebootReader),
            ]
        );
    });
}

// ----- the property -----

#[derive(Debug, Clone)]
enum Op {
    /// Time passes.
    Wait(Millis),
    /// The owner asks the reader for a transaction (if none runs).
    StartTransaction,
    /// The transaction ends.
    EndTransaction,
    /// The app reboots the reader (refused while a transaction runs).
    AppReboot,
    /// The link is lost for a while, then the reader is reconnected.
    LinkLoss(Millis),
    /// The security reboot asked for is not carried out.
    RebootFails,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..8 * HOUR).prop_map(Op::Wait),
        2 => (0..15 * MINUTE).prop_map(Op::Wait),
        3 => Just(Op::StartTransaction),
        3 => Just(Op::EndTransaction),
        1 => Just(Op::AppReboot),
        1 => (0..3 * MINUTE).prop_map(Op::LinkLoss),
        1 => Just(Op::RebootFails),
    ]
}

/// The owner and the reader around one timer.
struct Model {
    h: Harness<RebootTimer>,
    device_type: DeviceType,
    /// When the reader last came up (it may be before the harness's 0).
    booted_at: i128,
    connected: bool,
    in_transaction: bool,
    /// The timer asked for a reboot that has not been carried out yet.
    reboot_asked: bool,
    /// When the timer said the reboot is due.
    due: Option<Millis>,
    /// A reboot failed in this connection: only then, or in a
    /// transaction, may the reader reach its own deadline while connected.
    failed: bool,
}

impl Model {
    fn new(device_type: DeviceType, uptime: Millis) -> Self {
        let mut model = Self {
            h: Harness::new(RebootTimer::default()),
            device_type,
            booted_at: -(uptime as i128),
            connected: false,
            in_transaction: false,
            reboot_asked: false,
            due: None,
            failed: false,
        };
        model.connect();
        model
    }

    fn now(&self) -> Millis {
        self.h.now()
    }

    fn uptime(&self) -> Millis {
        (self.now() as i128 - self.booted_at) as Millis
    }

    /// When the reader reboots itself, if it does.
    fn own_deadline(&self) -> Option<Millis> {
        self.device_type
            .reboots_daily()
            .then(|| (self.booted_at + (24 * HOUR) as i128).max(0) as Millis)
    }

    fn check(&mut self, outputs: Vec<RebootOutput>) -> Result<(), TestCaseError> {
        for output in outputs {
            prop_assert!(
                self.device_type.reboots_daily(),
                "a {} is never rebooted: {output:?}",
                self.device_type
            );
            match output {
                RebootOutput::RebootReader => {
                    prop_assert!(
                        !self.in_transaction,
                        "a reboot asked at {} during a transaction",
                        self.now()
                    );
                    prop_assert!(self.connected, "a reboot asked while not connected");
                    self.reboot_asked = true;
                }
                RebootOutput::RebootScheduled { at } => {
                    prop_assert!(at >= self.now());
                    if let Some(own) = self.own_deadline() {
                        prop_assert!(
                            at <= own
                                .saturating_sub(DEFAULT_REBOOT_LEAD.as_millis() as Millis)
                                .max(self.now())
                                || self.failed,
                            "scheduled at {at}, after the reader's own {own} less the lead"
                        );
                    }
                    self.due = Some(at);
                }
            }
        }
        // Liveness: due, no transaction, connected → a reboot was asked.
        if self.connected && !self.in_transaction && !self.reboot_asked {
            if let Some(due) = self.due {
                prop_assert!(due >= self.now(), "due at {due}, nothing asked by {}", self.now());
            }
        }
        Ok(())
    }

    fn input(&mut self, input: RebootInput) -> Result<(), TestCaseError> {
        let outputs = self.h.input(input);
        self.check(outputs)
    }

    fn advance_to(&mut self, t: Millis) -> Result<(), TestCaseError> {
        let outputs = self.h.advance_to(t);
        self.check(outputs)
    }

    fn connect(&mut self) {
        self.connected = true;
        self.in_transaction = false;
        self.reboot_asked = false;
        self.failed = false;
        self.due = None;
        let input = connected(self.device_type, self.uptime());
        let outputs = self.h.input(input);
        // Checked by the caller's next step; record what it planned now.
        for output in &outputs {
            if let RebootOutput::RebootScheduled { at } = output {
                self.due = Some(*at);
            }
        }
        assert!(
            outputs.iter().all(|o| *o != RebootOutput::RebootReader),
            "a reboot is asked through the timer, never straight from the connect"
        );
    }

    fn disconnect(&mut self) -> Result<(), TestCaseError> {
        self.connected = false;
        self.in_transaction = false;
        self.reboot_asked = false;
        self.due = None;
        self.input(RebootInput::ReaderDisconnected)
    }

    /// The reader reboots now (asked, or by itself): it is back and
    /// reconnected after its boot.
    fn reboot_now(&mut self) -> Result<(), TestCaseError> {
        self.disconnect()?;
        let back = self.now() + BACK_AFTER;
        self.booted_at = back as i128;
        self.advance_to(back)?;
        self.connect();
        Ok(())
    }

    /// A reboot the timer asked for and no one refused is carried out.
    fn carry_out(&mut self) -> Result<(), TestCaseError> {
        if self.reboot_asked {
            self.reboot_now()?;
        }
        Ok(())
    }

    fn wait(&mut self, for_ms: Millis) -> Result<(), TestCaseError> {
        let until = self.now() + for_ms;
        loop {
            self.carry_out()?;
            let own = self.own_deadline().filter(|d| *d <= until);
            let Some(own) = own else {
                return self.advance_to(until);
            };
            self.advance_to(own)?;
            if self.reboot_asked {
                // The host's reboot came first (at the same instant).
                continue;
            }
            if !self.connected {
                // It reboots by itself while no one is connected.
                self.booted_at = (own + BACK_AFTER) as i128;
                continue;
            }
            prop_assert!(
                self.in_transaction || self.failed,
                "the reader reached its own deadline at {own} with no transaction or failure to excuse it"
            );
            self.reboot_now()?;
        }
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        if !matches!(op, Op::RebootFails) {
            self.carry_out()?;
        }
        match op {
            Op::Wait(ms) => self.wait(*ms)?,
            Op::StartTransaction => {
                if self.connected && !self.in_transaction {
                    self.in_transaction = true;
                    self.input(RebootInput::TransactionStarted)?;
                }
            }
            Op::EndTransaction => {
                if self.in_transaction {
                    self.in_transaction = false;
                    self.input(RebootInput::TransactionEnded)?;
                }
            }
            Op::AppReboot => {
                if self.connected && !self.in_transaction {
                    self.reboot_now()?;
                }
            }
            Op::LinkLoss(down) => {
                if self.connected {
                    self.disconnect()?;
                    self.wait(*down)?;
                    // If it rebooted itself meanwhile, it is back once up.
                    let up = (self.booted_at.max(0) as Millis).max(self.now());
                    self.advance_to(up)?;
                    self.connect();
                }
            }
            Op::RebootFails => {
                if self.reboot_asked {
                    self.reboot_asked = false;
                    self.failed = true;
                    self.input(RebootInput::RebootFailed)?;
                }
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_reboot_is_ever_asked_while_a_transaction_runs(
        device_type in proptest::sample::select(DeviceType::ALL.to_vec()),
        uptime in 0..30 * HOUR,
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        let mut model = Model::new(device_type, uptime);
        model.check(Vec::new())?;
        for op in &ops {
            model.step(op)?;
        }
        model.wait(30 * HOUR)?;
    }
}
