//! TLS for SSL and SASL_SSL listeners: the server certificate (generated, with its own CA, or
//! the caller's PEMs), the rustls configuration (ring provider), client certificates for
//! mutual TLS, and the principal a client certificate stands for. No sockets here.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub cert: String,
    pub key: String,
}

/// The CA generated for `tls: true`: it signs the server's certificate and, on request, client
/// certificates.
struct Authority {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A cluster's TLS settings, shared by all its TLS listeners.
#[derive(Clone)]
pub struct TlsSettings {
    config: Arc<ServerConfig>,
    /// The CA clients trust to reach the broker: the generated one, or the caller's `ca`.
    pub ca: Option<String>,
    /// Whether clients must present a certificate (`ssl.client.auth=required`).
    pub client_auth: bool,
    authority: Option<Arc<Authority>>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("client_auth", &self.client_auth)
            .field("generated", &self.authority.is_some())
            .finish()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn error(context: &str, e: impl std::fmt::Display) -> String {
    format!("{context}: {e}")
}

impl TlsSettings {
    /// A fresh CA and a server certificate for `hosts` (names or IP addresses) signed by it.
    pub fn generate(hosts: &[String], client_auth: bool) -> Result<Self, String> {
        let key = KeyPair::generate().map_err(|e| error("cannot generate a CA key", e))?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "kafka-emulator CA");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params
            .self_signed(&key)
            .map_err(|e| error("cannot generate a CA certificate", e))?;
        let authority = Arc::new(Authority { cert, key });
        let server = issue(&authority, "kafka-emulator", hosts)?;
        let ca = authority.cert.pem();
        let mut settings = Self::from_pem(&server.cert, &server.key, Some(&ca), client_auth)?;
        settings.authority = Some(authority);
        Ok(settings)
    }

    /// The caller's certificate chain and key; `ca` signs client certificates when
    /// `client_auth` (and is what clients are told to trust).
    pub fn from_pem(
        cert: &str,
        key: &str,
        ca: Option<&str>,
        client_auth: bool,
    ) -> Result<Self, String> {
        let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| error("tls.cert is not a PEM certificate", e))?;
        if chain.is_empty() {
            return Err("tls.cert holds no PEM certificate".into());
        }
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
            .map_err(|e| error("tls.key is not a PEM private key", e))?;
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| error("TLS", e))?;
        let builder = if client_auth {
            let ca = ca.ok_or(
                "tls.requestCert needs tls.ca: the CA that signs the clients' certificates",
            )?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                let cert = cert.map_err(|e| error("tls.ca is not a PEM certificate", e))?;
                roots
                    .add(cert)
                    .map_err(|e| error("tls.ca is not a usable CA certificate", e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| error("tls.ca", e))?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let config = builder
            .with_single_cert(chain, key)
            .map_err(|e| error("tls.cert and tls.key do not make a usable pair", e))?;
        Ok(TlsSettings {
            config: Arc::new(config),
            ca: ca.map(str::to_string),
            client_auth,
            authority: None,
        })
    }

    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }

    /// A certificate signed by the generated CA, for a client (mutual TLS) or, with `hosts`,
    /// for a server. `None` when the CA is the caller's: its key is not ours.
    pub fn issue(
        &self,
        common_name: &str,
        hosts: &[String],
    ) -> Option<Result<IssuedCertificate, String>> {
        Some(issue(self.authority.as_ref()?, common_name, hosts))
    }
}

fn issue(
    authority: &Authority,
    common_name: &str,
    hosts: &[String],
) -> Result<IssuedCertificate, String> {
    let key = KeyPair::generate().map_err(|e| error("cannot generate a key", e))?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    params.distinguished_name = name;
    params.subject_alt_names = hosts
        .iter()
        .map(|host| match host.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => host
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| error(&format!("{host} is not a host name"), e)),
        })
        .collect::<Result<_, _>>()?;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params
        .signed_by(&key, &authority.cert, &authority.key)
        .map_err(|e| error("cannot sign a certificate", e))?;
    Ok(IssuedCertificate {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// The principal Kafka's default principal builder gives a client certificate: `User:` and its
/// subject as an RFC 2253 distinguished name (most specific attribute first).
pub fn principal(cert_der: &[u8]) -> Option<String> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    let rdns: Vec<String> = cert
        .subject()
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|attr| {
                    let oid = attr.attr_type().to_id_string();
                    let keyword = match oid.as_str() {
                        "2.5.4.3" => Some("CN"),
                        "2.5.4.6" => Some("C"),
                        "2.5.4.7" => Some("L"),
                        "2.5.4.8" => Some("ST"),
                        "2.5.4.9" => Some("STREET"),
                        "2.5.4.10" => Some("O"),
                        "2.5.4.11" => Some("OU"),
                        "0.9.2342.19200300.100.1.1" => Some("UID"),
                        "0.9.2342.19200300.100.1.25" => Some("DC"),
                        _ => None,
                    };
                    match (keyword, attr.as_str()) {
                        (Some(keyword), Ok(value)) => format!("{keyword}={}", escape(value)),
                        // Attributes without an RFC 2253 keyword are written as their OID and
                        // the hex of their DER encoding.
                        _ => format!("{oid}=#{}", hex(attr.attr_value())),
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    let dn: Vec<String> = rdns.into_iter().rev().collect();
    Some(format!("User:{}", dn.join(",")))
}

fn hex(value: &x509_parser::der_parser::asn1_rs::Any) -> String {
    use x509_parser::der_parser::asn1_rs::ToDer;
    value
        .to_der_vec()
        .unwrap_or_default()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// RFC 2253 escaping of an attribute value.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_ca_signs_the_server_and_client_certificates() {
        let settings = TlsSettings::generate(&["127.0.0.1".into(), "localhost".into()], true)
            .expect("generated");
        assert!(settings
            .ca
            .as_deref()
            .unwrap()
            .contains("BEGIN CERTIFICATE"));
        let client = settings.issue("alice", &[]).unwrap().unwrap();
        let der = CertificateDer::from_pem_slice(client.cert.as_bytes()).unwrap();
        assert_eq!(principal(&der).as_deref(), Some("User:CN=alice"));
    }

    #[test]
    fn principals_are_rfc2253_most_specific_first() {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CountryName, "NL");
        name.push(DnType::OrganizationName, "Acme, Inc.");
        name.push(DnType::OrganizationalUnitName, "eng");
        name.push(DnType::CommonName, "bob");
        params.distinguished_name = name;
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            principal(cert.der()).as_deref(),
            Some("User:CN=bob,OU=eng,O=Acme\\, Inc.,C=NL")
        );
    }

    #[test]
    fn client_auth_needs_a_ca() {
        let generated = TlsSettings::generate(&["localhost".into()], false).unwrap();
        let pair = generated
            .issue("server", &["localhost".into()])
            .unwrap()
            .unwrap();
        let err = TlsSettings::from_pem(&pair.cert, &pair.key, None, true).unwrap_err();
        assert!(err.contains("tls.ca"), "{err}");
        assert!(TlsSettings::from_pem(&pair.cert, &pair.key, None, false).is_ok());
        assert!(TlsSettings::from_pem("nope", &pair.key, None, false).is_err());
        // A caller's CA cannot issue certificates: its key is not ours.
        let theirs =
            TlsSettings::from_pem(&pair.cert, &pair.key, generated.ca.as_deref(), true).unwrap();
        assert!(theirs.issue("x", &[]).is_none());
    }
}
