//! A private CA made afresh by each TLS test (rcgen): server certificates for `localhost` and
//! 127.0.0.1, client certificates by common name. The files are world-readable, because a
//! RabbitMQ node of the test runs as the `rabbitmq` user; they hold nothing but test keys.
//! Shared by the pipeline's unit tests (`src/tls.rs`) and its integration tests.

#![allow(dead_code)]

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::path::PathBuf;

/// The CA and the folder its files are written to (`ca.pem`, `server.pem`, `server.key`).
pub struct Pki {
    pub dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    /// A new CA with one server certificate (`server.pem`, `server.key`).
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "photocheck test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pki = Pki { dir, ca };
        pki.write("ca.pem", &pki.ca.pem());
        pki.server("server");
        pki
    }

    /// Path of `name` in the folder.
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        path
    }

    fn issue(&self, stem: &str, params: CertificateParams) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        self.write(&format!("{stem}.pem"), &cert.pem());
        self.write(&format!("{stem}.key"), &key.serialize_pem());
        (
            self.path(&format!("{stem}.pem")),
            self.path(&format!("{stem}.key")),
        )
    }

    /// A new server certificate for localhost and 127.0.0.1 in `STEM.pem` / `STEM.key`.
    pub fn server(&self, stem: &str) -> (String, String) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(stem, params)
    }

    /// A client certificate with subject CN `cn` in `STEM.pem` / `STEM.key`.
    pub fn client(&self, stem: &str, cn: &str) -> (String, String) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(stem, params)
    }
}
