//! Logs on standard error at the level the user chose; the Celery crate's
//! own logs (reconnections, dropped messages) included.

/// Installs the subscriber once; a second call keeps the first.
pub(crate) fn init(level: tracing::Level) {
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
