//! The node's own certificate authority: the node's images trust it, and the node's services
//! (git over HTTPS) serve certificates it signs, as an organisation's internal CA would. It is
//! made once and kept with the images, which carry its certificate.

use std::path::{Path, PathBuf};

use rcgen::{Issuer, KeyPair};

use crate::pki::{CertPair, ca_params, serving_pair};
use crate::{Error, write_file};

const COMMON_NAME: &str = "nbv-node-ca";

/// The CA's certificate and key, as files in the image cache.
#[derive(Debug, Clone)]
pub struct NodeCa {
    /// The CA certificate (PEM), which the node's images trust.
    pub cert: PathBuf,
    key: PathBuf,
}

impl NodeCa {
    /// The CA kept in `<cache root>/node-images/ca`, made there on first use.
    pub fn load_or_create() -> Result<Self, Error> {
        let dir = super::NodeImages::cache_dir()?.join("ca");
        let ca = Self {
            cert: dir.join("ca.crt"),
            key: dir.join("ca.key"),
        };
        if ca.cert.is_file() && ca.key.is_file() {
            return Ok(ca);
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let key = KeyPair::generate()?;
        let cert = ca_params(COMMON_NAME).self_signed(&key)?;
        // The key last: a CA is used only when both files are there.
        write_file(&ca.cert, cert.pem().as_bytes())?;
        write_file(&ca.key, key.serialize_pem().as_bytes())?;
        Ok(ca)
    }

    /// A serving certificate for the node's address, in `dir`.
    pub fn serving_pair(&self, dir: &Path) -> Result<CertPair, Error> {
        let pem = std::fs::read_to_string(&self.key).map_err(|e| Error::io(&self.key, e))?;
        let issuer = Issuer::new(ca_params(COMMON_NAME), KeyPair::from_pem(&pem)?);
        serving_pair(dir, "node-serve", &issuer, &[super::GATEWAY])
    }
}
