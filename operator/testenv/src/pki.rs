//! Certificates and keys for one control plane, generated in-process.
//!
//! Everything is ECDSA P-256 (rcgen's default), which Go's TLS stack, rustls and the service-account
//! token signer all accept. Validity is rcgen's default (1975 to 4096): these never leave the machine.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::{Error, write_file};

/// Names the serving certificate covers: loopback, plus the in-cluster names of the API server so
/// that a kubeconfig pointing at either works.
const SERVING_NAMES: [&str; 7] = [
    "127.0.0.1",
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    crate::controlplane::KUBERNETES_SERVICE_IP,
];

/// A certificate and its key, as files.
#[derive(Debug, Clone)]
pub struct CertPair {
    /// PEM certificate.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8).
    pub key: PathBuf,
}

/// The files a control plane is started with.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA that signs every certificate here and that the API server trusts for clients.
    pub ca: CertPair,
    /// The API server's serving certificate.
    pub apiserver: CertPair,
    /// A client in group `system:masters`, which RBAC lets do anything.
    pub admin: CertPair,
    /// The controller manager's client identity (also in `system:masters`; its RBAC is not what
    /// the tests are about).
    pub controller_manager: CertPair,
    /// Private key signing service-account tokens.
    pub service_account_key: PathBuf,
    /// Its public half, which the API server verifies tokens with.
    pub service_account_pub: PathBuf,
}

impl Pki {
    /// Generates everything into `dir`.
    pub fn generate(dir: &Path) -> Result<Self, Error> {
        let ca_key = KeyPair::generate()?;
        let ca_params = ca_params("nbv-testenv-ca");
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let ca = write_pair(dir, "ca", &ca_cert.pem(), &ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let apiserver = leaf(
            dir,
            "apiserver",
            &issuer,
            "kube-apiserver",
            None,
            &SERVING_NAMES,
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        let admin = leaf(
            dir,
            "admin",
            &issuer,
            "nbv-testenv-admin",
            Some("system:masters"),
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;
        let controller_manager = leaf(
            dir,
            "kube-controller-manager",
            &issuer,
            "system:kube-controller-manager",
            Some("system:masters"),
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;

        let sa_key = KeyPair::generate()?;
        let service_account_key = dir.join("service-account.key");
        write_file(&service_account_key, sa_key.serialize_pem().as_bytes())?;
        let service_account_pub = dir.join("service-account.pub");
        write_file(&service_account_pub, sa_key.public_key_pem().as_bytes())?;

        Ok(Self {
            ca,
            apiserver,
            admin,
            controller_manager,
            service_account_key,
            service_account_pub,
        })
    }
}

/// The parameters of a self-signed CA named `common_name`. The same parameters and key give an
/// issuer whose certificates verify against a CA certificate made earlier from them.
pub(crate) fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// A serving certificate for `names` (host names or IP addresses) signed by `issuer`.
pub(crate) fn serving_pair(
    dir: &Path,
    file_stem: &str,
    issuer: &Issuer<'_, KeyPair>,
    names: &[&str],
) -> Result<CertPair, Error> {
    leaf(
        dir,
        file_stem,
        issuer,
        names.first().copied().unwrap_or("localhost"),
        None,
        names,
        ExtendedKeyUsagePurpose::ServerAuth,
    )
}

fn leaf(
    dir: &Path,
    file_stem: &str,
    issuer: &Issuer<'_, KeyPair>,
    common_name: &str,
    organization: Option<&str>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> Result<CertPair, Error> {
    let key = KeyPair::generate()?;
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    if let Some(org) = organization {
        // Kubernetes reads group membership from the subject's O attributes.
        params
            .distinguished_name
            .push(DnType::OrganizationName, org);
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer)?;
    write_pair(dir, file_stem, &cert.pem(), &key)
}

fn write_pair(dir: &Path, stem: &str, cert_pem: &str, key: &KeyPair) -> Result<CertPair, Error> {
    let pair = CertPair {
        cert: dir.join(format!("{stem}.crt")),
        key: dir.join(format!("{stem}.key")),
    };
    write_file(&pair.cert, cert_pem.as_bytes())?;
    write_file(&pair.key, key.serialize_pem().as_bytes())?;
    Ok(pair)
}
