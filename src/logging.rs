//! The broker's own log (not to be confused with a partition's log in `state::log`): what it
//! has to say about connections it closes, failed logins and its own errors, filtered by level,
//! rate-limited by kind of event, and written one line per entry to stderr or handed to a sink
//! (the `log` callback of `startKafka`).
//!
//! A test process is the audience: quiet by default (warnings and errors only), and a flood of
//! bad connections (a fuzzing test, a client speaking the wrong protocol) makes a few lines and
//! a summary, never a line per connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How verbose a cluster's log is, as the `logLevel` option and `KAFKA_EMULATOR_LOG` name it.
/// An entry is written when its level is at or above the cluster's: `Warn` writes warnings and
/// errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// The environment variable that sets the level of clusters started without `logLevel`.
pub const LEVEL_VARIABLE: &str = "KAFKA_EMULATOR_LOG";

impl Level {
    /// The levels a user may name, for error messages.
    pub const NAMES: &'static str = "off, error, warn, info, debug or trace";

    pub fn parse(name: &str) -> Option<Level> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "off" | "none" => Level::Off,
            "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "trace" => Level::Trace,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Off => "off",
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Level::Off => "OFF",
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }

    /// The level `KAFKA_EMULATOR_LOG` names (warn when unset), and the value it had if that is
    /// not a level.
    pub fn from_env() -> (Level, Option<String>) {
        match std::env::var(LEVEL_VARIABLE) {
            Err(_) => (Level::Warn, None),
            Ok(value) if value.trim().is_empty() => (Level::Warn, None),
            Ok(value) => match Level::parse(&value) {
                Some(level) => (level, None),
                None => (Level::Warn, Some(value)),
            },
        }
    }
}

/// A kind of event the broker logs. Events of one kind share a rate limit, and a summary of
/// those left out names them with `one` or `many` (`… 3 more connections closed for malformed
/// frames in the last 10 s`).
#[derive(Debug)]
pub struct Event {
    /// A stable name for programs: the `event` of a callback's entries.
    pub name: &'static str,
    pub level: Level,
    pub one: &'static str,
    pub many: &'static str,
}

/// Every event the broker logs.
pub mod events {
    use super::{Event, Level};

    /// A frame that cannot be a Kafka request (bad length prefix, unreadable header, an unknown
    /// API, an unsupported version, an undecodable body) closes its connection. Kafka logs
    /// these at WARN (its Selector: "Unexpected error from ...; closing connection") or ERROR
    /// (its SocketServer, for requests it cannot parse). A client that sends one is broken and a
    /// test wants to know, so WARN, shown by default; but a fuzzing test sends thousands, so
    /// they are rate-limited like every event: a few lines, then one summary per window.
    pub static MALFORMED_FRAME: Event = Event {
        name: "connection.malformed-frame",
        level: Level::Warn,
        one: "connection closed for a malformed frame",
        many: "connections closed for malformed frames",
    };
    /// Kafka's Acceptor logs each new connection at DEBUG.
    pub static CONNECTION_ACCEPTED: Event = Event {
        name: "connection.accepted",
        level: Level::Debug,
        one: "connection accepted",
        many: "connections accepted",
    };
    /// The client closed its connection, or the socket failed; Kafka's Selector logs that at
    /// DEBUG ("Connection with ... disconnected").
    pub static CONNECTION_CLOSED: Event = Event {
        name: "connection.closed",
        level: Level::Debug,
        one: "connection closed by its client",
        many: "connections closed by their clients",
    };
    /// A failed SASL login; Kafka logs "Failed authentication with ..." at INFO.
    pub static AUTHENTICATION_FAILED: Event = Event {
        name: "sasl.authentication-failed",
        level: Level::Info,
        one: "failed SASL authentication",
        many: "failed SASL authentications",
    };
    /// Why an OAUTHBEARER token was refused: the client is told only the status.
    pub static TOKEN_REFUSED: Event = Event {
        name: "sasl.token-refused",
        level: Level::Info,
        one: "OAUTHBEARER token refused",
        many: "OAUTHBEARER tokens refused",
    };
    /// A request out of turn during a SASL login, or on a session that expired.
    pub static SASL_CONNECTION_CLOSED: Event = Event {
        name: "sasl.connection-closed",
        level: Level::Info,
        one: "connection closed by the SASL authenticator",
        many: "connections closed by the SASL authenticator",
    };
    /// Kafka logs a failed TLS handshake as a failed authentication, at INFO.
    pub static TLS_HANDSHAKE_FAILED: Event = Event {
        name: "tls.handshake-failed",
        level: Level::Info,
        one: "failed TLS handshake",
        many: "failed TLS handshakes",
    };
    /// Out of file descriptors and the like: the broker cannot take connections.
    pub static ACCEPT_FAILED: Event = Event {
        name: "listener.accept-failed",
        level: Level::Error,
        one: "failed accept",
        many: "failed accepts",
    };
    /// A response this broker built but cannot encode: a bug in the emulator.
    pub static ENCODE_FAILED: Event = Event {
        name: "response.encode-failed",
        level: Level::Error,
        one: "response that could not be encoded",
        many: "responses that could not be encoded",
    };
    /// `KAFKA_EMULATOR_LOG` names no level.
    pub static BAD_LEVEL: Event = Event {
        name: "config.bad-log-level",
        level: Level::Warn,
        one: "bad log level",
        many: "bad log levels",
    };
}

/// One thing the broker logged, or a summary of those left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub level: Level,
    /// The event's name (`Event::name`).
    pub event: &'static str,
    /// One line: no newlines or control characters, at most `MAX_MESSAGE_CHARS` characters
    /// and a note of how much was cut.
    pub message: String,
    /// The client's address, when the event concerns a connection.
    pub peer: Option<String>,
    /// When it happened, ms since the epoch.
    pub time_ms: i64,
    /// For a summary: how many events of this kind it stands for.
    pub suppressed: Option<u64>,
}

impl Entry {
    /// The entry as written to stderr, without a line end.
    pub fn line(&self) -> String {
        format!("kafka-emulator: {} {}", self.level.label(), self.message)
    }
}

/// Where entries go.
pub trait Sink: Send + Sync {
    /// Must not block for long: it is called from the broker's runtime.
    fn write(&self, entry: Entry);
}

/// One line per entry on the process's stderr.
pub struct Stderr;

impl Sink for Stderr {
    fn write(&self, entry: Entry) {
        write_stderr(&entry.line());
    }
}

/// Writes one line to stderr in a single write, so that lines from threads do not interleave;
/// a failed write is ignored (`eprintln!` would panic on a closed stderr).
pub fn write_stderr(line: &str) {
    use std::io::Write;
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    let _ = std::io::stderr().lock().write_all(&bytes);
}

/// How long a message may be, in characters, before it is cut.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// `text` on one line: trailing whitespace dropped, line breaks, tabs and other control
/// characters escaped (`\n`, `\t`, `\u{1b}`), and cut after `max` characters with a note of
/// how many bytes were left out.
pub fn one_line(text: &str, max: usize) -> String {
    let text = text.trim_end();
    let mut out = String::with_capacity(text.len().min(max + 32));
    for (written, (at, c)) in text.char_indices().enumerate() {
        if written == max {
            out.push_str(&format!("… ({} more bytes)", text.len() - at));
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Unicode's line and paragraph separators break lines in some terminals too.
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// `n` with thousands separators: 4,213.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// How long a rate-limit window lasts.
pub const WINDOW: Duration = Duration::from_secs(10);
/// How many events of one kind a window lets through before it only counts them.
pub const BURST: u32 = 5;

/// Events of one kind left out during a window.
#[derive(Debug, Clone)]
pub struct Summary {
    pub event: &'static Event,
    pub count: u64,
    /// How long the window had run when it was summarised.
    pub elapsed: Duration,
}

impl Summary {
    pub fn message(&self) -> String {
        let what = if self.count == 1 {
            self.event.one
        } else {
            self.event.many
        };
        // Whole seconds, at least one: the window's length (the summary comes up to a second
        // after its end), or less when the cluster stopped.
        let secs = self.elapsed.as_secs().max(1);
        format!(
            "… {} more {what} in the last {} s",
            thousands(self.count),
            thousands(secs)
        )
    }
}

/// Per kind of event, fixed windows of `window` from the kind's first event: the first `burst`
/// events of a window pass, the rest are counted and summarised once the window is over.
#[derive(Debug)]
pub struct RateLimiter {
    window: Duration,
    burst: u32,
    windows: HashMap<&'static str, Window>,
}

#[derive(Debug)]
struct Window {
    event: &'static Event,
    started: Instant,
    passed: u32,
    suppressed: u64,
}

impl Window {
    fn summary(&self, now: Instant) -> Option<Summary> {
        (self.suppressed > 0).then(|| Summary {
            event: self.event,
            count: self.suppressed,
            elapsed: now.saturating_duration_since(self.started),
        })
    }
}

impl RateLimiter {
    pub fn new(window: Duration, burst: u32) -> Self {
        RateLimiter {
            window,
            burst,
            windows: HashMap::new(),
        }
    }

    /// Whether an event of this kind at `now` is written; first, the summary of the kind's
    /// previous window if it is over and left events out.
    pub fn admit(&mut self, event: &'static Event, now: Instant) -> (Option<Summary>, bool) {
        let window = self.windows.entry(event.name).or_insert(Window {
            event,
            started: now,
            passed: 0,
            suppressed: 0,
        });
        let mut summary = None;
        if now.saturating_duration_since(window.started) >= self.window {
            summary = window.summary(now);
            *window = Window {
                event,
                started: now,
                passed: 0,
                suppressed: 0,
            };
        }
        if window.passed < self.burst {
            window.passed += 1;
            (summary, true)
        } else {
            window.suppressed += 1;
            (summary, false)
        }
    }

    /// Ends the windows that are over at `now`, with the summaries of those that left events out.
    pub fn expire(&mut self, now: Instant) -> Vec<Summary> {
        let period = self.window;
        let mut summaries = Vec::new();
        self.windows.retain(|_, w| {
            if now.saturating_duration_since(w.started) < period {
                return true;
            }
            summaries.extend(w.summary(now));
            false
        });
        summaries.sort_by_key(|s| s.event.name);
        summaries
    }

    /// Ends every window, with the summaries of those that left events out (the cluster stops).
    pub fn drain(&mut self, now: Instant) -> Vec<Summary> {
        let mut summaries: Vec<Summary> = self
            .windows
            .drain()
            .filter_map(|(_, w)| w.summary(now))
            .collect();
        summaries.sort_by_key(|s| s.event.name);
        summaries
    }
}

/// A cluster's log: cheap to clone, shared by every connection.
#[derive(Clone)]
pub struct Logger {
    shared: Arc<Shared>,
}

struct Shared {
    level: Level,
    /// Set once `close` has run: nothing more is written.
    closed: AtomicBool,
    state: Mutex<State>,
}

struct State {
    limiter: RateLimiter,
    sink: Option<Arc<dyn Sink>>,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("level", &self.shared.level)
            .finish_non_exhaustive()
    }
}

impl Default for Logger {
    /// Warnings and errors, on stderr.
    fn default() -> Self {
        Logger::new(Level::Warn, Arc::new(Stderr))
    }
}

impl Logger {
    pub fn new(level: Level, sink: Arc<dyn Sink>) -> Self {
        Logger {
            shared: Arc::new(Shared {
                level,
                closed: AtomicBool::new(false),
                state: Mutex::new(State {
                    limiter: RateLimiter::new(WINDOW, BURST),
                    sink: Some(sink),
                }),
            }),
        }
    }

    pub fn level(&self) -> Level {
        self.shared.level
    }

    /// Whether entries at `level` are written.
    pub fn enabled(&self, level: Level) -> bool {
        level != Level::Off
            && level <= self.shared.level
            && !self.shared.closed.load(Ordering::Relaxed)
    }

    /// Logs an event concerning `peer` (if any); `message` is only called if the entry is
    /// written, so that a disabled or rate-limited event costs nothing.
    pub fn log(&self, event: &'static Event, peer: Option<&str>, message: impl FnOnce() -> String) {
        self.log_at(Instant::now(), event, peer, message)
    }

    pub fn log_at(
        &self,
        now: Instant,
        event: &'static Event,
        peer: Option<&str>,
        message: impl FnOnce() -> String,
    ) {
        if !self.enabled(event.level) {
            return;
        }
        let mut state = self.shared.state.lock();
        let (summary, admitted) = state.limiter.admit(event, now);
        let Some(sink) = state.sink.clone() else {
            return;
        };
        if let Some(summary) = summary {
            sink.write(summary_entry(&summary));
        }
        if admitted {
            sink.write(Entry {
                level: event.level,
                event: event.name,
                message: one_line(&message(), MAX_MESSAGE_CHARS),
                peer: peer.map(str::to_string),
                time_ms: crate::state::now_ms(),
                suppressed: None,
            });
        }
    }

    /// Writes the summaries of the windows that are over: called every second by the cluster,
    /// so that a flood that stopped is summarised without waiting for another event.
    pub fn flush(&self) {
        self.flush_at(Instant::now())
    }

    pub fn flush_at(&self, now: Instant) {
        let mut state = self.shared.state.lock();
        let summaries = state.limiter.expire(now);
        if let Some(sink) = state.sink.clone() {
            for summary in summaries {
                sink.write(summary_entry(&summary));
            }
        }
    }

    /// Summarises what was left out and lets go of the sink (a JS callback), once the cluster
    /// has stopped. Later events are dropped.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Relaxed);
        let mut state = self.shared.state.lock();
        let summaries = state.limiter.drain(Instant::now());
        if let Some(sink) = state.sink.take() {
            for summary in summaries {
                sink.write(summary_entry(&summary));
            }
        }
    }
}

fn summary_entry(summary: &Summary) -> Entry {
    Entry {
        level: summary.event.level,
        event: summary.event.name,
        message: summary.message(),
        peer: None,
        time_ms: crate::state::now_ms(),
        suppressed: Some(summary.count),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Mutex<Vec<Entry>>);

    impl Sink for Collect {
        fn write(&self, entry: Entry) {
            self.0.lock().push(entry);
        }
    }

    fn collecting(level: Level) -> (Logger, Arc<Collect>) {
        let sink = Arc::new(Collect::default());
        (Logger::new(level, sink.clone()), sink)
    }

    #[test]
    fn a_message_is_one_line_without_control_characters() {
        assert_eq!(one_line("closed: bad frame\n", 100), "closed: bad frame");
        assert_eq!(
            one_line("a\nb\r\nc\td\u{1b}[31me\u{0}\u{2028}f", 100),
            "a\\nb\\r\\nc\\td\\u{1b}[31me\\u{0}\\u{2028}f"
        );
        assert_eq!(one_line("\n\n", 100), "");
        assert_eq!(one_line("héllo wörld", 100), "héllo wörld");
    }

    #[test]
    fn a_long_message_is_cut_on_a_character_boundary() {
        let long = "é".repeat(50);
        let cut = one_line(&long, 10);
        assert_eq!(cut, format!("{}… (80 more bytes)", "é".repeat(10)));
        assert_eq!(one_line(&"x".repeat(10), 10), "x".repeat(10));
    }

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(4213), "4,213");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn levels_parse_and_filter() {
        assert_eq!(Level::parse("WARN"), Some(Level::Warn));
        assert_eq!(Level::parse(" debug "), Some(Level::Debug));
        assert_eq!(Level::parse("loud"), None);
        let (logger, sink) = collecting(Level::Warn);
        logger.log(&events::CONNECTION_ACCEPTED, None, || "debug".into());
        logger.log(&events::AUTHENTICATION_FAILED, None, || "info".into());
        logger.log(&events::MALFORMED_FRAME, None, || "warn".into());
        logger.log(&events::ACCEPT_FAILED, None, || "error".into());
        let written: Vec<_> = sink.0.lock().iter().map(|e| e.message.clone()).collect();
        assert_eq!(written, ["warn", "error"]);
        let (off, sink) = collecting(Level::Off);
        off.log(&events::ACCEPT_FAILED, None, || {
            panic!("not formatted when off")
        });
        assert!(sink.0.lock().is_empty());
    }

    #[test]
    fn a_flood_writes_a_burst_then_one_summary_per_window() {
        let (logger, sink) = collecting(Level::Warn);
        let start = Instant::now();
        // 10,000 bad connections over 25 s: 400 a second.
        for i in 0..10_000u64 {
            let now = start + Duration::from_micros(i * 2_500);
            logger.log_at(now, &events::MALFORMED_FRAME, Some("127.0.0.1:1"), || {
                format!("closing connection {i}")
            });
            if i % 400 == 0 {
                logger.flush_at(now);
            }
        }
        let end = start + Duration::from_secs(25);
        logger.flush_at(end);
        logger.close();
        let entries = sink.0.lock().clone();
        // Three windows (0-10 s, 10-20 s, 20-25 s): five lines and a summary each.
        assert_eq!(entries.len(), 18, "{entries:#?}");
        let summaries: Vec<_> = entries.iter().filter(|e| e.suppressed.is_some()).collect();
        assert_eq!(summaries.len(), 3);
        let total: u64 = summaries.iter().map(|e| e.suppressed.unwrap()).sum();
        assert_eq!(total, 10_000 - 15);
        assert_eq!(
            summaries[0].message,
            "… 3,995 more connections closed for malformed frames in the last 10 s"
        );
        assert!(entries.iter().all(|e| e.level == Level::Warn));
        assert_eq!(entries[0].peer.as_deref(), Some("127.0.0.1:1"));
    }

    #[test]
    fn kinds_of_events_have_their_own_limits() {
        let mut limiter = RateLimiter::new(Duration::from_secs(10), 2);
        let now = Instant::now();
        let admitted = |limiter: &mut RateLimiter, event| limiter.admit(event, now).1;
        assert!(admitted(&mut limiter, &events::MALFORMED_FRAME));
        assert!(admitted(&mut limiter, &events::MALFORMED_FRAME));
        assert!(!admitted(&mut limiter, &events::MALFORMED_FRAME));
        assert!(admitted(&mut limiter, &events::ACCEPT_FAILED));
        // The window is not over: nothing to summarise yet.
        assert!(limiter.expire(now + Duration::from_secs(9)).is_empty());
        let summaries = limiter.expire(now + Duration::from_secs(10));
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0].count, 1);
        assert_eq!(
            summaries[0].message(),
            "… 1 more connection closed for a malformed frame in the last 10 s"
        );
        // A new window lets a burst through again.
        assert!(
            limiter
                .admit(&events::MALFORMED_FRAME, now + Duration::from_secs(11))
                .1
        );
    }

    #[test]
    fn the_next_event_after_a_window_brings_its_summary() {
        let mut limiter = RateLimiter::new(Duration::from_secs(10), 1);
        let now = Instant::now();
        limiter.admit(&events::MALFORMED_FRAME, now);
        limiter.admit(&events::MALFORMED_FRAME, now);
        let (summary, admitted) =
            limiter.admit(&events::MALFORMED_FRAME, now + Duration::from_secs(12));
        assert!(admitted);
        assert_eq!(summary.map(|s| s.count), Some(1));
    }

    #[test]
    fn closing_summarises_what_was_left_out_and_drops_later_events() {
        let (logger, sink) = collecting(Level::Debug);
        let now = Instant::now();
        for _ in 0..(BURST + 3) {
            logger.log_at(now, &events::CONNECTION_CLOSED, None, || "closed".into());
        }
        logger.close();
        logger.log(&events::ACCEPT_FAILED, None, || "after close".into());
        let entries = sink.0.lock().clone();
        assert_eq!(entries.len(), BURST as usize + 1);
        let last = entries.last().unwrap();
        assert_eq!(last.suppressed, Some(3));
        assert!(last
            .message
            .starts_with("… 3 more connections closed by their clients in the last "));
    }

    #[test]
    fn a_stderr_line_names_the_emulator_and_the_level() {
        let entry = Entry {
            level: Level::Warn,
            event: events::MALFORMED_FRAME.name,
            message: "closing connection from 127.0.0.1:5: invalid frame length -2".into(),
            peer: None,
            time_ms: 0,
            suppressed: None,
        };
        assert_eq!(
            entry.line(),
            "kafka-emulator: WARN closing connection from 127.0.0.1:5: invalid frame length -2"
        );
    }
}
