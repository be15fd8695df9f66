//! Lines for the host's log.
//!
//! A line logged while a handler runs names that handler's request; outside
//! one (in `Actor::new`) it goes out with request 0. Lines over
//! [`MAX_LOG_BYTES`] are cut at a character boundary. Logging never fails:
//! a line the host refuses is dropped.

pub use actr_core::abi::{LogLevel, MAX_LOG_BYTES};

use actr_core::abi::{GuestFrame, HostOperation};

use crate::{executor, host};

/// Sends one line at `level`.
pub fn log(level: LogLevel, message: &str) {
    let message = truncate(message, MAX_LOG_BYTES).to_owned();
    let frame =
        GuestFrame { request_id: executor::current_request(), op_id: 0, op: HostOperation::Log { level, message } };
    host::send_frame(&frame);
}

pub fn error(message: &str) {
    log(LogLevel::Error, message);
}

pub fn warn(message: &str) {
    log(LogLevel::Warn, message);
}

pub fn info(message: &str) {
    log(LogLevel::Info, message);
}

pub fn debug(message: &str) {
    log(LogLevel::Debug, message);
}

pub fn trace(message: &str) {
    log(LogLevel::Trace, message);
}

fn truncate(message: &str, max: usize) -> &str {
    if message.len() <= max {
        return message;
    }
    let mut end = max;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn long_lines_are_cut_at_a_char_boundary() {
        assert_eq!(truncate("hello", 10), "hello");
        assert_eq!(truncate("hello", 3), "hel");
        assert_eq!(truncate("héllo", 2), "h", "é is two bytes");
    }
}
