//! A BlueZ stand-in for the `ble` transport's tests (test-only): a private
//! `dbus-daemon` posing as the system bus, and python-dbusmock's `bluez5`
//! template extended with readerlink readers (`readerlink_bluez.py`), so
//! btleplug's real BlueZ backend runs against it without Bluetooth hardware.
//!
//! ```text
//! BleTransport ─ btleplug ─ D-Bus ─ dbusmock "org.bluez" ─ MethodCalled(WriteValue) ─┐
//!      ▲                                                                              ▼
//!      └── PropertiesChanged(Value) ◄── Notify ◄── ReaderPipe (echo) or RawLink (SimWorld)
//! ```
//!
//! A simulated reader's [`RawLink`] opens when BlueZ shows the device
//! connected and closes when it shows it disconnected; when the reader's
//! side ends the link, the stand-in drops it (`DropLink`).
//!
//! btleplug reads the system bus address from `DBUS_SYSTEM_BUS_ADDRESS`,
//! and libdbus reads that variable once per process. So every fixture of a
//! test process listens on the same socket path, and fixtures run one at a
//! time: [`BluezFixture::start`] holds a process-wide lock until the
//! fixture is dropped, which also kills both daemons.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dbus::arg::{RefArg, Variant};
use dbus::blocking::Connection;
use dbus::channel::Channel;
use dbus::message::MatchRule;
use readerlink::protocol::advertisement::ReaderAdvertisement;
use readerlink::reader::{DeviceType, SerialNumber};
use readerlink::transport::sim::link::rssi_at;
use readerlink::transport::sim::{RawLink, ReaderSpec as SimReaderSpec, SimWorld};
use readerlink::transport::{
    COMMAND_CHARACTERISTIC_UUID, EVENT_CHARACTERISTIC_UUID, LinkEvent, MANUFACTURER_ID, PeripheralId,
    SERVICE_UUID,
};
use tokio::sync::mpsc;

/// The adapter the stand-in offers.
pub const ADAPTER: &str = "hci0";
/// The MTU the stand-in's characteristics report (ATT payload 244).
pub const MTU: u16 = 247;

const MOCK_IFACE: &str = "org.bluez.Mock";
const DBUSMOCK_IFACE: &str = "org.freedesktop.DBus.Mock";
const COMMAND_PATH: &str = "/service0010/char0011";
const EVENT_PATH: &str = "/service0010/char0013";
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// A method call's arguments as dbusmock reports them (`av`).
type MethodArgs = Vec<Variant<Box<dyn RefArg>>>;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// What a reader advertises.
#[derive(Debug, Clone)]
pub struct ReaderSpec {
    /// Its serial number.
    pub serial: SerialNumber,
    /// Its model.
    pub device_type: DeviceType,
    /// Its signal strength as heard, in dBm.
    pub rssi: i16,
    /// Battery percent, when it advertises the long form.
    pub battery_percent: Option<u8>,
    /// The ATT MTU its characteristics report ([`MTU`] unless it says).
    pub mtu: u16,
}

/// A duplex byte pipe to a reader's wire-protocol side: what the app writes
/// goes into `to_reader`; what the reader sends comes out of `from_reader`
/// and is notified on the event characteristic.
pub struct ReaderPipe {
    /// ATT payloads written by the app.
    pub to_reader: mpsc::UnboundedSender<Vec<u8>>,
    /// ATT payloads the reader notifies.
    pub from_reader: mpsc::UnboundedReceiver<Vec<u8>>,
}

impl ReaderPipe {
    /// A peer that sends back every payload it is written.
    pub fn echo() -> Self {
        let (to_reader, from_reader) = mpsc::unbounded_channel();
        Self {
            to_reader,
            from_reader,
        }
    }
}

/// One `WriteValue` the stand-in received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The bytes written.
    pub value: Vec<u8>,
    /// BlueZ's write type option: `command` is write without response.
    pub write_type: Option<String>,
}

/// What the app did to a reader's GATT side, as the stand-in saw it.
#[derive(Debug)]
enum GattCall {
    /// BlueZ shows the device connected (or not any more).
    Connected(bool),
    /// The app wrote to the command characteristic.
    Written(Vec<u8>),
}

/// What a reader's peer asks of the stand-in.
#[derive(Debug)]
enum Outgoing {
    /// Notify on the event characteristic.
    Notify(Vec<u8>),
    /// The reader's side dropped the link.
    DropLink,
}

/// Where a device's GATT traffic goes.
enum Route {
    /// Writes only, to a byte pipe.
    Pipe(mpsc::UnboundedSender<Vec<u8>>),
    /// Connects, disconnects and writes, to a simulated reader's bridge.
    Sim(mpsc::UnboundedSender<GattCall>),
}

/// The writes seen on each device's command characteristic, and where to
/// forward the device's traffic.
#[derive(Default)]
struct Bridge {
    writes: HashMap<String, Vec<Write>>,
    routes: HashMap<String, Route>,
}

/// The running stand-in. Dropping it kills both daemons.
pub struct BluezFixture {
    dir: PathBuf,
    address: String,
    daemon: Child,
    mock: Child,
    control: Mutex<Connection>,
    readers: Mutex<HashMap<SerialNumber, String>>,
    next_address: Mutex<u8>,
    bridge: Arc<Mutex<Bridge>>,
    stop: Arc<AtomicBool>,
    /// The thread that watches the mock's method calls; joined on drop.
    /// (Peer threads end when their pipe or the bus closes.)
    listener: Option<JoinHandle<()>>,
    _one_at_a_time: MutexGuard<'static, ()>,
}

fn python_with_dbusmock() -> Option<&'static str> {
    ["/usr/bin/python3", "python3"].into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import dbusmock"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    })
}

fn dbus_daemon_present() -> bool {
    Command::new("dbus-daemon")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn connect(address: &str) -> Connection {
    let mut channel = Channel::open_private(address).expect("connecting to the stand-in bus");
    channel.register().expect("registering on the stand-in bus");
    Connection::from(channel)
}

fn bytes_of(arg: &dyn RefArg) -> Vec<u8> {
    arg.as_iter()
        .map(|items| {
            items
                .filter_map(|byte| byte.as_u64())
                .map(|byte| byte as u8)
                .collect()
        })
        .unwrap_or_default()
}

/// The `type` entry of a `WriteValue` options dictionary.
fn write_type_of(options: &dyn RefArg) -> Option<String> {
    let mut entries = options.as_iter()?;
    while let (Some(key), Some(value)) = (entries.next(), entries.next()) {
        if key.as_str() == Some("type") {
            return value
                .as_str()
                .or_else(|| value.as_iter()?.next()?.as_str())
                .map(str::to_owned);
        }
    }
    None
}

impl BluezFixture {
    /// Starts a private bus with the BlueZ stand-in and one powered adapter
    /// (`hci0`), and points `DBUS_SYSTEM_BUS_ADDRESS` at it. Returns `None`,
    /// after saying why, when `dbus-daemon` or python3-dbusmock is not
    /// installed; panics on any other failure.
    pub fn start() -> Option<Self> {
        let guard = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !dbus_daemon_present() {
            eprintln!("SKIPPED: `dbus-daemon` is not installed (Debian: apt-get install dbus)");
            return None;
        }
        let Some(python) = python_with_dbusmock() else {
            eprintln!(
                "SKIPPED: python3-dbusmock is not installed (Debian: apt-get install python3-dbusmock)"
            );
            return None;
        };
        let dir = std::env::temp_dir().join(format!("readerlink-bluez-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the stand-in's folder");
        let address = format!("unix:path={}", dir.join("system_bus_socket").display());
        // SAFETY: only this test binary's BlueZ tests read the environment
        // while it changes, and they all wait on ONE_AT_A_TIME, held here.
        // The value is the same for every fixture of this process.
        unsafe { std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &address) };

        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bluez");
        let config = std::fs::read_to_string(fixtures.join("bus.conf"))
            .expect("reading tests/bluez/bus.conf")
            .replace("@LISTEN@", &address);
        let config_path = dir.join("bus.conf");
        std::fs::write(&config_path, config).expect("writing the bus configuration");
        let mut daemon = Command::new("dbus-daemon")
            .arg("--nofork")
            .arg("--print-address=1")
            .arg(format!("--config-file={}", config_path.display()))
            .stdout(Stdio::piped())
            // As root it warns that it cannot raise its fd limit; noise.
            .stderr(std::fs::File::create(dir.join("daemon.log")).expect("creating the daemon's log"))
            .spawn()
            .expect("starting dbus-daemon");
        let mut ready = String::new();
        BufReader::new(daemon.stdout.take().expect("dbus-daemon's stdout"))
            .read_line(&mut ready)
            .expect("reading dbus-daemon's address");
        assert!(!ready.trim().is_empty(), "dbus-daemon exited before listening");

        let log = std::fs::File::create(dir.join("mock.log")).expect("creating the mock's log");
        let mock = Command::new(python)
            .args(["-m", "dbusmock", "--system", "--template"])
            .arg(fixtures.join("readerlink_bluez.py"))
            .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
            .stdout(log.try_clone().expect("cloning the log handle"))
            .stderr(log)
            .spawn()
            .expect("starting python-dbusmock");

        let control = Mutex::new(connect(&address));
        let mut fixture = Self {
            dir,
            address,
            daemon,
            mock,
            control,
            readers: Mutex::new(HashMap::new()),
            next_address: Mutex::new(1),
            bridge: Arc::new(Mutex::new(Bridge::default())),
            stop: Arc::new(AtomicBool::new(false)),
            listener: None,
            _one_at_a_time: guard,
        };
        fixture.wait_for_bluez();
        fixture.listen_for_writes();
        let _: (String,) = fixture.call("/", MOCK_IFACE, "AddAdapter", (ADAPTER, "readerlink-test"));
        Some(fixture)
    }

    /// Waits until the mock owns `org.bluez`.
    fn wait_for_bluez(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let control = self.control.lock().unwrap();
        control
            .add_match_no_cb(
                "type='signal',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='org.bluez'",
            )
            .expect("watching for org.bluez");
        loop {
            let bus = control.with_proxy("org.freedesktop.DBus", "/org/freedesktop/DBus", CALL_TIMEOUT);
            let (owned,): (bool,) = bus
                .method_call("org.freedesktop.DBus", "NameHasOwner", ("org.bluez",))
                .expect("asking the bus for org.bluez");
            if owned {
                return;
            }
            if let Some(status) = self.mock.try_wait().expect("polling python-dbusmock") {
                panic!("python-dbusmock exited ({status}); log: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "org.bluez did not appear; log: {}",
                self.log()
            );
            // Wakes early on NameOwnerChanged.
            control
                .process(Duration::from_millis(100))
                .expect("waiting on the bus");
        }
    }

    /// Records every `WriteValue` on a command characteristic and forwards
    /// it to the reader's pipe.
    fn listen_for_writes(&mut self) {
        let connection = connect(&self.address);
        let bridge = Arc::clone(&self.bridge);
        let stop = Arc::clone(&self.stop);
        connection
            .add_match(
                MatchRule::new_signal(DBUSMOCK_IFACE, "MethodCalled"),
                move |(method, args): (String, MethodArgs), _, message| {
                    let path = message.path().map(|path| path.to_string()).unwrap_or_default();
                    if method != "WriteValue" {
                        return true;
                    }
                    let Some(device) = path.strip_suffix(COMMAND_PATH) else {
                        return true;
                    };
                    let write = Write {
                        value: args.first().map(|value| bytes_of(&*value.0)).unwrap_or_default(),
                        write_type: args.get(1).and_then(|options| write_type_of(&*options.0)),
                    };
                    let mut bridge = bridge.lock().unwrap();
                    match bridge.routes.get(device) {
                        Some(Route::Pipe(peer)) => {
                            let _ = peer.send(write.value.clone());
                        }
                        Some(Route::Sim(peer)) => {
                            let _ = peer.send(GattCall::Written(write.value.clone()));
                        }
                        None => {}
                    }
                    bridge.writes.entry(device.to_owned()).or_default().push(write);
                    true
                },
            )
            .expect("watching the mock's method calls");
        let bridge = Arc::clone(&self.bridge);
        connection
            .add_match(
                MatchRule::new_signal("org.freedesktop.DBus.Properties", "PropertiesChanged"),
                move |(interface, changed, _): (String, dbus::arg::PropMap, Vec<String>), _, message| {
                    let Some(connected) = dbus::arg::prop_cast::<bool>(&changed, "Connected") else {
                        return true;
                    };
                    if interface != "org.bluez.Device1" {
                        return true;
                    }
                    let path = message.path().map(|path| path.to_string()).unwrap_or_default();
                    if let Some(Route::Sim(peer)) = bridge.lock().unwrap().routes.get(&path) {
                        let _ = peer.send(GattCall::Connected(*connected));
                    }
                    true
                },
            )
            .expect("watching the devices' connections");
        self.listener = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if connection.process(Duration::from_millis(100)).is_err() {
                    break;
                }
            }
        }));
    }

    fn call<A: dbus::arg::AppendAll, R: dbus::arg::ReadAll>(
        &self,
        path: &str,
        interface: &str,
        method: &str,
        args: A,
    ) -> R {
        let control = self.control.lock().unwrap();
        control
            .with_proxy("org.bluez", path, CALL_TIMEOUT)
            .method_call(interface, method, args)
            .unwrap_or_else(|error| panic!("{interface}.{method} on {path}: {error}; log: {}", self.log()))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mock.log")).unwrap_or_default()
    }

    fn next_address(&self) -> String {
        let mut next = self.next_address.lock().unwrap();
        let address = format!("C0:FF:EE:00:00:{:02X}", *next);
        *next += 1;
        address
    }

    /// Adds a reader BlueZ has heard advertising (short form: serial only).
    pub fn add_reader(&self, serial: &str, device_type: DeviceType, rssi: i16) -> PeripheralId {
        self.add_reader_with(ReaderSpec {
            serial: SerialNumber::new(serial),
            device_type,
            rssi,
            battery_percent: None,
            mtu: MTU,
        })
    }

    /// Adds a reader BlueZ has heard advertising.
    pub fn add_reader_with(&self, spec: ReaderSpec) -> PeripheralId {
        let data = ReaderAdvertisement {
            device_type: spec.device_type,
            serial_number: spec.serial.clone(),
            battery_percent: spec.battery_percent,
            software_version: None,
        }
        .encode();
        let address = self.next_address();
        let (path,): (String,) = self.call(
            "/",
            MOCK_IFACE,
            "AddReader",
            (
                ADAPTER,
                address.as_str(),
                spec.serial.as_str(),
                spec.rssi,
                MANUFACTURER_ID,
                data,
                SERVICE_UUID.to_string(),
                COMMAND_CHARACTERISTIC_UUID.to_string(),
                EVENT_CHARACTERISTIC_UUID.to_string(),
                spec.mtu,
            ),
        );
        self.readers.lock().unwrap().insert(spec.serial, path.clone());
        peripheral_id_of(&path)
    }

    /// Adds a device that is not a readerlink reader, with this
    /// manufacturer data.
    pub fn add_other_device(&self, alias: &str, manufacturer_id: u16, data: Vec<u8>) -> PeripheralId {
        let address = self.next_address();
        let (path,): (String,) = self.call(
            "/",
            MOCK_IFACE,
            "AddReader",
            (
                ADAPTER,
                address.as_str(),
                alias,
                -40i16,
                manufacturer_id,
                data,
                "0000180f-0000-1000-8000-00805f9b34fb",
                "00002a19-0000-1000-8000-00805f9b34fb",
                "00002a1a-0000-1000-8000-00805f9b34fb",
                MTU,
            ),
        );
        peripheral_id_of(&path)
    }

    fn device_path(&self, serial: &str) -> String {
        self.readers
            .lock()
            .unwrap()
            .get(&SerialNumber::new(serial))
            .unwrap_or_else(|| panic!("no reader `{serial}` in the stand-in"))
            .clone()
    }

    /// The transport's id for a reader.
    pub fn peripheral_id(&self, serial: &str) -> PeripheralId {
        peripheral_id_of(&self.device_path(serial))
    }

    /// Connects the reader's GATT side to a wire-protocol peer: writes go
    /// to it, and what it sends is notified.
    pub fn attach_peer(&self, serial: &str, pipe: ReaderPipe) {
        let device = self.device_path(serial);
        let ReaderPipe {
            to_reader,
            mut from_reader,
        } = pipe;
        self.bridge
            .lock()
            .unwrap()
            .routes
            .insert(device.clone(), Route::Pipe(to_reader));
        self.spawn_outgoing(device, move || from_reader.blocking_recv().map(Outgoing::Notify));
    }

    /// Adds a simulated reader of `world` (built from `spec`) as BlueZ
    /// would see it, and bridges it: when the app connects, a
    /// [`RawLink`](readerlink::transport::sim::RawLink) to the reader
    /// opens; writes go to it, its notifications come back as
    /// notifications, and when the reader's side drops the link (reboot,
    /// power off, out of range) BlueZ reports the device disconnected. Call
    /// it inside the test's runtime ([`BluezFixture::run`]).
    pub fn add_sim_reader(&self, world: &SimWorld, spec: &SimReaderSpec) -> PeripheralId {
        let id = self.add_reader_with(ReaderSpec {
            serial: spec.serial.clone(),
            device_type: spec.device_type,
            rssi: rssi_at(spec.distance_m).round() as i16,
            battery_percent: Some((spec.battery.clamp(0.0, 1.0) * 100.0).round() as u8),
            mtu: spec.att_payload as u16 + 3,
        });
        let device = self.device_path(spec.serial.as_str());
        let (calls, calls_rx) = mpsc::unbounded_channel();
        let (outgoing, mut outgoing_rx) = mpsc::unbounded_channel();
        self.bridge
            .lock()
            .unwrap()
            .routes
            .insert(device.clone(), Route::Sim(calls));
        tokio::spawn(bridge_sim_reader(
            world.clone(),
            spec.serial.clone(),
            calls_rx,
            outgoing,
        ));
        self.spawn_outgoing(device, move || outgoing_rx.blocking_recv());
        id
    }

    /// Carries out a peer's requests on a connection of its own, until the
    /// peer ends or the bus is gone.
    fn spawn_outgoing(&self, device: String, mut next: impl FnMut() -> Option<Outgoing> + Send + 'static) {
        let connection = connect(&self.address);
        std::thread::spawn(move || {
            while let Some(request) = next() {
                let proxy = connection.with_proxy("org.bluez", "/", CALL_TIMEOUT);
                let path = dbus::Path::from(device.as_str());
                let done: Result<(), dbus::Error> = match request {
                    Outgoing::Notify(value) => proxy.method_call(MOCK_IFACE, "Notify", (path, value)),
                    Outgoing::DropLink => proxy.method_call(MOCK_IFACE, "DropLink", (path,)),
                };
                if let Err(error) = done {
                    eprintln!("bluez stand-in: a peer's request on {device} failed: {error}");
                    if !connection.channel().is_connected() {
                        break;
                    }
                }
            }
        });
    }

    /// The reader sends one notification on its event characteristic.
    pub fn notify(&self, serial: &str, value: Vec<u8>) {
        let path = dbus::Path::from(self.device_path(serial));
        let () = self.call("/", MOCK_IFACE, "Notify", (path, value));
    }

    /// The writes the reader's command characteristic received, in order.
    pub fn writes(&self, serial: &str) -> Vec<Write> {
        let device = self.device_path(serial);
        self.bridge
            .lock()
            .unwrap()
            .writes
            .get(&device)
            .cloned()
            .unwrap_or_default()
    }

    /// How often `method` was called on the reader's event characteristic
    /// (`StartNotify`, `StopNotify`).
    pub fn event_characteristic_calls(&self, serial: &str, method: &str) -> usize {
        let path = format!("{}{EVENT_PATH}", self.device_path(serial));
        let (calls,): (Vec<(u64, MethodArgs)>,) =
            self.call(&path, DBUSMOCK_IFACE, "GetMethodCalls", (method,));
        calls.len()
    }

    /// The service UUIDs of the adapter's discovery filter (what the app
    /// asked BlueZ to scan for).
    pub fn discovery_filter_uuids(&self) -> Vec<String> {
        let adapter = format!("/org/bluez/{ADAPTER}");
        let (filter,): (Variant<dbus::arg::PropMap>,) = self.call(
            &adapter,
            "org.freedesktop.DBus.Properties",
            "Get",
            ("org.bluez.Adapter1", "DiscoveryFilter"),
        );
        dbus::arg::prop_cast::<Vec<String>>(&filter.0, "UUIDs")
            .cloned()
            .unwrap_or_default()
    }

    /// Whether BlueZ shows the reader connected.
    pub fn is_connected(&self, serial: &str) -> bool {
        let path = self.device_path(serial);
        let (connected,): (Variant<bool>,) = self.call(
            &path,
            "org.freedesktop.DBus.Properties",
            "Get",
            ("org.bluez.Device1", "Connected"),
        );
        connected.0
    }

    /// Blocks until BlueZ shows the reader disconnected, at most `limit`;
    /// says whether it did. (From async code: inside
    /// `tokio::task::block_in_place`.)
    pub fn wait_until_disconnected(&self, serial: &str, limit: Duration) -> bool {
        let path = self.device_path(serial);
        let connection = connect(&self.address);
        let disconnected = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&disconnected);
        let rule = MatchRule::new_signal("org.freedesktop.DBus.Properties", "PropertiesChanged")
            .with_path(path.clone());
        connection
            .add_match(
                rule,
                move |(_, changed, _): (String, dbus::arg::PropMap, Vec<String>), _, _| {
                    if dbus::arg::prop_cast::<bool>(&changed, "Connected") == Some(&false) {
                        seen.store(true, Ordering::SeqCst);
                    }
                    true
                },
            )
            .expect("watching the device");
        // Subscribed first, so a change between the check and the wait is seen.
        if !self.is_connected(serial) {
            return true;
        }
        let deadline = Instant::now() + limit;
        while !disconnected.load(Ordering::SeqCst) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            connection.process(left).expect("waiting on the bus");
        }
        true
    }

    /// The reader's link is lost (out of range): BlueZ reports it
    /// disconnected.
    pub fn drop_link(&self, serial: &str) {
        let path = dbus::Path::from(self.device_path(serial));
        let () = self.call("/", MOCK_IFACE, "DropLink", (path,));
    }

    /// Whether the reader can be connected: when not, BlueZ's `Connect`
    /// fails as for a device out of range (`org.bluez.Error.Failed`).
    pub fn set_connectable(&self, serial: &str, connectable: bool) {
        let path = dbus::Path::from(self.device_path(serial));
        let () = self.call("/", MOCK_IFACE, "SetConnectable", (path, connectable));
    }

    /// How often the app called `Connect` on the reader, failed calls
    /// included.
    pub fn connect_calls(&self, serial: &str) -> usize {
        let path = self.device_path(serial);
        let (calls,): (Vec<(u64, MethodArgs)>,) =
            self.call(&path, DBUSMOCK_IFACE, "GetMethodCalls", ("Connect",));
        calls.len()
    }

    /// Blocks until the app called `Connect` on the reader `count` times in
    /// all, at most `limit`; says whether it did. (From async code: inside
    /// `tokio::task::block_in_place`.)
    pub fn wait_for_connect_calls(&self, serial: &str, count: usize, limit: Duration) -> bool {
        let path = self.device_path(serial);
        let connection = connect(&self.address);
        let called = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&called);
        let rule = MatchRule::new_signal(DBUSMOCK_IFACE, "MethodCalled").with_path(path);
        connection
            .add_match(rule, move |(method, _): (String, MethodArgs), _, _| {
                if method == "Connect" {
                    seen.store(true, Ordering::SeqCst);
                }
                true
            })
            .expect("watching the device's method calls");
        // Subscribed first, so a call between a count and the wait is seen.
        let deadline = Instant::now() + limit;
        while self.connect_calls(serial) < count {
            called.store(false, Ordering::SeqCst);
            while !called.load(Ordering::SeqCst) {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return false;
                }
                connection.process(left).expect("waiting on the bus");
            }
        }
        true
    }

    /// The host adapter is powered off; every link drops with it.
    pub fn power_off_adapter(&self) {
        let () = self.call("/", MOCK_IFACE, "SetAdapterPowered", (ADAPTER, false));
    }

    /// The host adapter is powered on again.
    pub fn power_on_adapter(&self) {
        let () = self.call("/", MOCK_IFACE, "SetAdapterPowered", (ADAPTER, true));
    }

    /// Runs a test body on a real-time tokio runtime (D-Bus is real IO),
    /// failing it after `limit`.
    pub fn run<F: std::future::Future<Output = ()>>(&self, limit: Duration, body: F) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("building a tokio runtime")
            .block_on(async {
                tokio::time::timeout(limit, body).await.unwrap_or_else(|_| {
                    panic!("the test did not finish within {limit:?}; log: {}", self.log())
                })
            });
    }
}

/// Carries one simulated reader's traffic between the stand-in and a
/// [`RawLink`] to it.
async fn bridge_sim_reader(
    world: SimWorld,
    serial: SerialNumber,
    mut calls: mpsc::UnboundedReceiver<GattCall>,
    outgoing: mpsc::UnboundedSender<Outgoing>,
) {
    let mut link: Option<RawLink> = None;
    loop {
        tokio::select! {
            call = calls.recv() => match call {
                None => return,
                Some(GattCall::Connected(true)) if link.is_none() => match world.open_raw_link(&serial) {
                    Ok(raw) => link = Some(raw),
                    Err(error) => {
                        eprintln!("bluez stand-in: {serial} cannot be reached: {error}");
                        let _ = outgoing.send(Outgoing::DropLink);
                    }
                },
                Some(GattCall::Connected(true)) => {}
                Some(GattCall::Connected(false)) => {
                    if let Some(raw) = link.take() {
                        let _ = raw.writer.close();
                    }
                }
                Some(GattCall::Written(value)) => {
                    if let Some(raw) = &link {
                        if let Err(error) = raw.write(value).await {
                            eprintln!("bluez stand-in: writing to {serial} failed: {error}");
                        }
                    }
                }
            },
            event = next_link_event(&mut link) => match event {
                Some(LinkEvent::NotificationReceived(value)) => {
                    let _ = outgoing.send(Outgoing::Notify(value));
                }
                Some(LinkEvent::LinkLost(_)) | None => {
                    link = None;
                    let _ = outgoing.send(Outgoing::DropLink);
                }
            },
        }
    }
}

/// The open link's next event; never, without a link.
async fn next_link_event(link: &mut Option<RawLink>) -> Option<LinkEvent> {
    match link {
        Some(raw) => raw.next_event().await,
        None => std::future::pending().await,
    }
}

/// btleplug's id for a BlueZ device path: the path below `/org/bluez/`.
fn peripheral_id_of(path: &str) -> PeripheralId {
    path.strip_prefix("/org/bluez/").unwrap_or(path).to_owned()
}

impl Drop for BluezFixture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.bridge
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .routes
            .clear();
        if std::thread::panicking() {
            eprintln!("--- bluez stand-in log ---\n{}", self.log());
        }
        for child in [&mut self.mock, &mut self.daemon] {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(listener) = self.listener.take() {
            let _ = listener.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
