//! Tracing set-up for both binaries: text or JSON lines on standard error.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, LogSettings};

/// Installs the global subscriber; call once, at start-up.
///
/// Panics are logged through it too, as error events with the message and
/// the place in the code; the default hook would write them to standard
/// error as bare text, in the middle of JSON logs. The worker does meet
/// panics it survives: a decoder can panic on a damaged upload, which the
/// pipeline catches and fails as a damaged file.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        // Colours only for a person at a terminal (unless NO_COLOR says
        // otherwise), never into a log file.
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            builder.with_ansi(colour).init()
        }
    }
    std::panic::set_hook(Box::new(tracing_panic::panic_hook));
}
