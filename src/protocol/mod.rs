//! The reader wire protocol: what app and reader say to each other over
//! the readerlink GATT service (see [`crate::transport`]), and the
//! manufacturer data readers advertise.

pub mod advertisement;
