//! kafka-emulator: a Kafka broker that runs inside a Node.js process. The core (sockets and
//! framing, the handlers of each Kafka API, the broker's state) knows nothing of napi; the
//! `binding` module is all that Node sees, and is left out of builds without the `binding`
//! feature (the fuzz targets run outside Node).

#[cfg(feature = "binding")]
pub mod binding;
pub mod connection;
pub mod console;
pub mod control;
#[cfg(test)]
mod differential;
pub mod faults;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod handlers;
pub mod logging;
pub mod protocol;
pub mod server;
pub mod state;
pub mod tls;
