//! The crypto provider of the TLS connections (`rediss://`, `amqps://`).
//!
//! rustls picks its provider from its cargo features, and cannot when a
//! build turns on more than one (another crate of the application may ask
//! for aws-lc-rs while this one asks for ring): the first TLS connection
//! would then panic. So before the first TLS client is made, ring is
//! installed as the process's provider, unless the application has installed
//! one already, which is then used.

/// Installs ring as the process's default rustls provider if none is.
pub(crate) fn ring_unless_chosen() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An error means a provider is installed already: it is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_provider_is_installed_before_the_first_tls_client() {
        super::ring_unless_chosen();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
