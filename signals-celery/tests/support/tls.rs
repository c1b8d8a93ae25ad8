//! A private CA for the TLS tests, made with `openssl`: its certificate, and a
//! server certificate for 127.0.0.1 that it signed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files of a test CA and of its server certificate, in `dir`.
pub(crate) struct TestCa {
    /// `ca.crt` (PEM), the root the clients trust.
    pub(crate) ca: Vec<u8>,
    pub(crate) ca_file: PathBuf,
    pub(crate) cert_file: PathBuf,
    pub(crate) key_file: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed (./test.sh installs it)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl TestCa {
    /// Makes a CA and a certificate for `IP:127.0.0.1` in `dir` (which must
    /// exist).
    pub(crate) fn make(dir: &Path) -> Self {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let ca_subject = ["-days", "2", "-subj", "/CN=signals test CA"];
        openssl(
            dir,
            &[
                &["req", "-x509"],
                &ec[..],
                &["-keyout", "ca.key", "-out", "ca.crt"],
                &ca_subject[..],
            ]
            .concat(),
        );
        openssl(
            dir,
            &[
                &["req"],
                &ec[..],
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
        );
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .expect("written");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        );
        Self {
            ca: std::fs::read(dir.join("ca.crt")).expect("the CA certificate"),
            ca_file: dir.join("ca.crt"),
            cert_file: dir.join("server.crt"),
            key_file: dir.join("server.key"),
        }
    }
}
