//! Tracing set-up for both binaries: text or JSON lines on standard error.

use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, LogSettings};

/// Installs the global subscriber; call once, at start-up.
///
/// Panics are logged through it too, as error events with the message and
/// the place in the code. Without that the default hook writes them to
/// standard error as bare text, which breaks JSON logs: and the worker meets
/// panics it survives, since a decoder can panic on a damaged upload and the
/// pipeline catches that and fails the job as a damaged file.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
    std::panic::set_hook(Box::new(tracing_panic::panic_hook));
}
