//! Step 1: the function certificate. It must open with its access code, hold a private key and
//! an RSA certificate that belong together, be valid (and not about to expire), allow signing
//! and TLS client authentication, look like a FOCES/VOCES function certificate of the
//! organisation, and be used by one environment only (the guide demands a unique certificate per
//! environment).

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::{Check, EXPIRY_WARNING_DAYS, Status, Step, environment_table, format_time};
use crate::config::ConfigFile;
use crate::config::ngdp::SystemTable;
use crate::keystore::{self, KeyError, PasswordSource, PrivateKey};

const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const ATTR_SERIAL_NUMBER: &str = "2.5.4.5";
const ATTR_ORGANIZATION: &str = "2.5.4.10";
const ATTR_ORGANIZATION_IDENTIFIER: &str = "2.5.4.97";
const ATTR_COMMON_NAME: &str = "2.5.4.3";
const AD_OCSP: &str = "1.3.6.1.5.5.7.48.1";
const AD_CA_ISSUERS: &str = "1.3.6.1.5.5.7.48.2";

/// What the network step needs from a system's certificate.
#[derive(Debug, Clone, Default)]
pub struct Inspected {
    /// The system id, as written.
    pub system: String,
    /// Key and certificates in PEM for mutual TLS, when the key is usable.
    pub identity_pem: Option<String>,
    /// CRL distribution points (URLs).
    pub crl: Vec<String>,
    /// OCSP responders (URLs).
    pub ocsp: Vec<String>,
    /// Where the issuer's certificate is published (URLs).
    pub ca_issuers: Vec<String>,
}

/// The certificate step's checks, and what the network step needs.
#[derive(Debug, Default)]
pub struct CertificateChecks {
    /// The checks.
    pub checks: Vec<Check>,
    /// One per system whose certificate's leaf could be read.
    pub inspected: Vec<Inspected>,
}

/// Where a system's certificate password comes from, as the configuration says.
pub(crate) fn password_source(file: &ConfigFile, s: &SystemTable) -> PasswordSource {
    match (&s.certificate_password_env, &s.certificate_password_file) {
        (Some(v), _) => PasswordSource::Env(v.clone()),
        (None, Some(f)) => PasswordSource::File(file.resolve_path(f)),
        (None, None) => PasswordSource::None,
    }
}

fn describe(password: &PasswordSource) -> String {
    match password {
        PasswordSource::None => "no password".into(),
        PasswordSource::Env(v) => format!("the password in ${v}"),
        PasswordSource::File(p) => format!("the password in {}", p.display()),
    }
}

/// `file:line (key)` for a key of `[[ngdp.<env>.systems]]` entry `index`.
pub(crate) fn place(file: &ConfigFile, array: &str, index: usize, key: &str) -> String {
    let e = file.error_in_array(array, index, key, "");
    format!(
        "{}{} ({})",
        e.file.display(),
        e.line.map(|l| format!(":{l}")).unwrap_or_default(),
        e.key.unwrap_or_default()
    )
}

/// Check every system's certificate in `environment`, judged at `now` (Unix seconds).
pub fn check(file: &ConfigFile, environment: &str, now: i64) -> CertificateChecks {
    let table = environment_table(file, environment);
    let array = format!("ngdp.{environment}.systems");
    let other = if environment == "production" {
        "test"
    } else {
        "production"
    };
    let others = other_certificates(file, other);
    let mut out = CertificateChecks::default();
    if table.systems.is_empty() {
        out.checks.push(Check::failed(
            Step::Certificate,
            "function certificate",
            "",
            format!("no system in [ngdp.{environment}], so no certificate to check"),
            format!("add a [[ngdp.{environment}.systems]] entry with certificate = \"….p12\" (see step 3)"),
        ));
    }
    for (i, s) in table.systems.iter().enumerate() {
        let subject = s.id.trim();
        let Some(cert) = &s.certificate else {
            out.checks.push(
                Check::failed(
                    Step::Certificate,
                    "function certificate",
                    subject,
                    "no certificate configured; NgDP's API (business receipts, pull, send) takes mutual TLS with the system's FOCES3/VOCES3 certificate",
                    format!("order a function certificate for the {environment} environment in MitID Erhverv, export it with its private key as .p12/.pfx, and set certificate = \"foces-{environment}.p12\" and certificate_password_env = \"NGDP_{}_CERT_PASSWORD\"", environment.to_ascii_uppercase()),
                )
                .at(place(file, &array, i, "certificate")),
            );
            continue;
        };
        let path = file.resolve_path(cert);
        let password = password_source(file, s);
        let loc = place(file, &array, i, "certificate");
        let (checks, inspected) = check_one(&path, &password, subject, now, &loc, &others, other);
        out.checks.extend(checks);
        out.inspected.extend(inspected);
    }
    out
}

/// When the function certificate in `path` stops being valid (Unix seconds): its first
/// certificate, the leaf, as for every other check here.
pub fn not_after(path: &Path, password: &PasswordSource) -> Result<i64, String> {
    let (_, certs) = keystore::certificates(path, password).map_err(|e| e.to_string())?;
    let leaf = certs
        .first()
        .ok_or_else(|| "the file holds no certificate".to_owned())?;
    let (_, cert) = X509Certificate::from_der(leaf)
        .map_err(|e| format!("the certificate cannot be read: {e}"))?;
    Ok(cert.validity().not_after.timestamp())
}

/// The certificates of the other environment: (file, SHA-256 of the leaf, or of the file when
/// it cannot be opened here).
fn other_certificates(file: &ConfigFile, environment: &str) -> Vec<(PathBuf, [u8; 32])> {
    let table = environment_table(file, environment);
    table
        .systems
        .iter()
        .filter_map(|s| {
            let path = file.resolve_path(s.certificate.as_ref()?);
            let print = match keystore::certificates(&path, &password_source(file, s)) {
                Ok((_, certs)) if !certs.is_empty() => Sha256::digest(&certs[0]).into(),
                _ => Sha256::digest(std::fs::read(&path).ok()?).into(),
            };
            Some((path, print))
        })
        .collect()
}

fn check_one(
    path: &Path,
    password: &PasswordSource,
    subject: &str,
    now: i64,
    loc: &str,
    others: &[(PathBuf, [u8; 32])],
    other_env: &str,
) -> (Vec<Check>, Option<Inspected>) {
    let step = Step::Certificate;
    let name = "certificate opens";
    let shown = path.display().to_string();
    let mut checks = Vec::new();
    let mut identity_pem = None;
    let (has_key, certificates, key_pkcs1) = match PrivateKey::load(path, password) {
        Ok(key) => {
            identity_pem = Some(key.identity_pem());
            (
                true,
                key.certificates().to_vec(),
                Some((key.public_key_pkcs1().to_vec(), key.bits())),
            )
        }
        // A key ring cannot use (not RSA, too small): look at the certificates anyway, so the
        // operator learns what the file holds.
        Err(KeyError::UnusableKey { reason, .. }) => match keystore::certificates(path, password) {
            Ok((has_key, certs)) => {
                checks.push(Check::ok(
                    step,
                    name,
                    subject,
                    format!("{shown} opens with {}", describe(password)),
                ));
                checks.push(
                        Check::failed(
                            step,
                            "private key",
                            subject,
                            format!("the private key is not a usable RSA key ({reason})"),
                            "NgDP's function certificates (FOCES3/VOCES3) are RSA: export the RSA function certificate issued for this system, with its private key",
                        )
                        .at(loc),
                    );
                (has_key, certs, None)
            }
            Err(e) => return (vec![open_failure(e, subject, password, loc)], None),
        },
        Err(e) => return (vec![open_failure(e, subject, password, loc)], None),
    };
    if key_pkcs1.is_some() {
        checks.push(Check::ok(
            step,
            name,
            subject,
            format!("{shown} opens with {}", describe(password)),
        ));
    }
    let Some(leaf) = certificates.first() else {
        checks.push(
            Check::failed(
                step,
                "certificate",
                subject,
                format!("{shown} holds {} but no certificate", if has_key { "a private key" } else { "nothing usable" }),
                "export the function certificate with its certificate chain (.p12/.pfx \"include all certificates\"), or add the certificate to the PEM file",
            )
            .at(loc),
        );
        return (checks, None);
    };
    let cert = match X509Certificate::from_der(leaf) {
        Ok((_, c)) => c,
        Err(e) => {
            checks.push(
                Check::failed(
                    step,
                    "certificate",
                    subject,
                    format!("the certificate in {shown} cannot be read: {e}"),
                    "export the function certificate again from MitID Erhverv as .p12/.pfx",
                )
                .at(loc),
            );
            return (checks, None);
        }
    };
    checks.extend(
        inspect(
            &cert,
            key_pkcs1.as_ref().map(|(k, bits)| (k.as_slice(), *bits)),
            now,
            subject,
        )
        .into_iter()
        .map(|c| if c.status == Status::Ok { c } else { c.at(loc) }),
    );
    // The guide: each environment must have a unique certificate.
    let print: [u8; 32] = Sha256::digest(leaf).into();
    let file_print: Option<[u8; 32]> = std::fs::read(path).ok().map(|b| Sha256::digest(b).into());
    match others
        .iter()
        .find(|(p, f)| p == path || *f == print || Some(*f) == file_print)
    {
        Some((p, _)) => checks.push(
            Check::failed(
                step,
                "unique per environment",
                subject,
                format!(
                    "the {other_env} environment uses the same certificate ({})",
                    p.display()
                ),
                "the guide demands a unique certificate per environment: order a separate function certificate for each of test and production, and give each environment its own file",
            )
            .at(loc),
        ),
        None => checks.push(Check::ok(
            step,
            "unique per environment",
            subject,
            format!("not used by the {other_env} environment (SHA-256 {})", hex(&print[..8])),
        )),
    }
    let inspected = Inspected {
        system: subject.to_owned(),
        identity_pem,
        ..addresses(&cert)
    };
    (checks, Some(inspected))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A certificate file that cannot be opened, with what to do for each reason.
fn open_failure(e: KeyError, subject: &str, password: &PasswordSource, loc: &str) -> Check {
    let fix = match &e {
        KeyError::Read { .. } => "check the path in certificate = … (relative paths are taken from the configuration file's folder) and that dpost may read the file".to_owned(),
        KeyError::Password(_) | KeyError::PasswordRequired { .. } => format!(
            "give the certificate's access code: set certificate_password_env = \"VAR\" and export VAR, or certificate_password_file = \"FILE\" (now: {})",
            describe(password)
        ),
        KeyError::WrongPassword { .. } => format!(
            "{} does not open the file: put the access code given when the certificate was exported there",
            describe(password)
        ),
        KeyError::NoPrivateKey { .. } => "this file holds only certificates: export the private version (.p12/.pfx with the private key) from MitID Erhverv or the certificate store".to_owned(),
        _ => "export the function certificate again as .p12/.pfx (or PEM with an unencrypted key)".to_owned(),
    };
    Check::failed(
        Step::Certificate,
        "certificate opens",
        subject,
        e.to_string(),
        fix,
    )
    .at(loc)
}

/// The checks on the certificate itself, judged at `now`: the key type and match, validity,
/// key usage and subject. `key` is the private key's public half (PKCS#1) and size in bits,
/// when the key is usable.
pub fn inspect(
    cert: &X509Certificate<'_>,
    key: Option<(&[u8], usize)>,
    now: i64,
    subject: &str,
) -> Vec<Check> {
    let step = Step::Certificate;
    let mut checks = Vec::new();
    let spki = cert.public_key();
    let rsa = spki.algorithm.algorithm.to_id_string() == RSA_ENCRYPTION;
    if !rsa {
        checks.push(Check::failed(
            step,
            "RSA certificate",
            subject,
            format!(
                "the certificate's key is not RSA (algorithm {})",
                spki.algorithm.algorithm.to_id_string()
            ),
            "NgDP's function certificates (FOCES3/VOCES3) are RSA: use the function certificate MitID Erhverv issued for this system",
        ));
    } else {
        match key {
            Some((k, _)) if k != &spki.subject_public_key.data[..] => checks.push(Check::failed(
                step,
                "RSA certificate",
                subject,
                "the private key does not belong to the certificate",
                "the file mixes two certificates' parts: export the function certificate again with its own private key",
            )),
            Some((_, bits)) => checks.push(Check::ok(
                step,
                "RSA certificate",
                subject,
                format!("private key and RSA certificate ({bits} bits) belong together"),
            )),
            None => {}
        }
    }
    // Validity.
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    let days_left = (not_after - now).div_euclid(86_400);
    if now < not_before {
        checks.push(Check::failed(
            step,
            "validity",
            subject,
            format!("not valid before {}", format_time(not_before)),
            "check the machine's clock; if it is right, wait for the certificate's start or use the certificate that is valid now",
        ));
    } else if now > not_after {
        checks.push(Check::failed(
            step,
            "validity",
            subject,
            format!("expired on {}", format_time(not_after)),
            "renew the function certificate in MitID Erhverv, export it as .p12/.pfx and replace the file; NgDP refuses expired certificates",
        ));
    } else if days_left < EXPIRY_WARNING_DAYS {
        checks.push(Check::warning(
            step,
            "validity",
            subject,
            format!("expires on {} ({days_left} days left)", format_time(not_after)),
            "renew the function certificate in MitID Erhverv now and replace the file before it expires",
        ));
    } else {
        checks.push(Check::ok(
            step,
            "validity",
            subject,
            format!(
                "valid until {} ({days_left} days left)",
                format_time(not_after)
            ),
        ));
    }
    // Key usage: RSA signatures for business receipts and TLS client authentication.
    let mut problems = Vec::new();
    let mut found = Vec::new();
    match cert.key_usage() {
        Ok(Some(ku)) if !ku.value.digital_signature() => problems.push(format!(
            "key usage is {} without digitalSignature",
            ku.value
        )),
        Ok(Some(_)) => found.push("digitalSignature".to_owned()),
        Ok(None) => found.push("no key usage limits".to_owned()),
        Err(e) => problems.push(format!("the key usage extension cannot be read: {e}")),
    }
    match cert.extended_key_usage() {
        Ok(Some(eku)) if !(eku.value.client_auth || eku.value.any) => {
            problems.push("extended key usage lacks TLS client authentication (clientAuth)".into())
        }
        Ok(Some(_)) => found.push("clientAuth".to_owned()),
        Ok(None) => found.push("no extended key usage limits".to_owned()),
        Err(e) => problems.push(format!(
            "the extended key usage extension cannot be read: {e}"
        )),
    }
    if problems.is_empty() {
        checks.push(Check::ok(step, "key usage", subject, found.join(", ")));
    } else {
        checks.push(Check::failed(
            step,
            "key usage",
            subject,
            problems.join("; "),
            "NgDP needs a certificate for signing and TLS client authentication: use the FOCES3/VOCES3 function certificate (not a server/SSL or personal certificate)",
        ));
    }
    checks.push(subject_check(cert, subject));
    checks
}

/// The subject of a function certificate names the organisation by CVR number: OCES2 put
/// `CVR:12345678-FID:…` (function) or `-UID:…` in serialNumber; OCES3 (MitID Erhverv) puts
/// `NTRDK-12345678` in organizationIdentifier and `… // CVR:12345678` in O.
pub fn subject_check(cert: &X509Certificate<'_>, subject: &str) -> Check {
    let mut attrs: Vec<(String, String)> = Vec::new();
    for attr in cert.subject().iter_attributes() {
        if let Ok(v) = attr.as_str() {
            attrs.push((attr.attr_type().to_id_string(), v.to_owned()));
        }
    }
    let get = |oid: &'static str| {
        attrs
            .iter()
            .filter(move |(o, _)| o == oid)
            .map(|(_, v)| v.as_str())
    };
    let cvr = get(ATTR_SERIAL_NUMBER)
        .chain(get(ATTR_ORGANIZATION))
        .find_map(|v| cvr_after(v, "CVR:"))
        .or_else(|| get(ATTR_ORGANIZATION_IDENTIFIER).find_map(|v| cvr_after(v, "NTRDK-")));
    let personal = get(ATTR_SERIAL_NUMBER).any(|v| v.contains("-RID:"));
    let cn = get(ATTR_COMMON_NAME).next().unwrap_or("").to_owned();
    let org = get(ATTR_ORGANIZATION).next().unwrap_or("").to_owned();
    match cvr {
        Some(_) if personal => Check::warning(
            Step::Certificate,
            "function certificate",
            subject,
            format!("\"{cn}\" looks like an employee certificate (MOCES, RID in serialNumber)"),
            "NgDP needs a function certificate (FOCES3/VOCES3) for the system, not an employee's: order one in MitID Erhverv",
        ),
        Some(cvr) => Check::ok(
            Step::Certificate,
            "function certificate",
            subject,
            format!("\"{cn}\", {org}, CVR {cvr}"),
        ),
        None => Check::warning(
            Step::Certificate,
            "function certificate",
            subject,
            format!(
                "the subject ({}) names no organisation CVR number",
                cert.subject()
            ),
            "NgDP knows the system by the organisation's FOCES3/VOCES3 function certificate, whose subject carries the CVR number: check this is the certificate MitID Erhverv issued",
        ),
    }
}

/// The 8 digits after `prefix` in `value`.
fn cvr_after(value: &str, prefix: &str) -> Option<String> {
    let at = value.find(prefix)? + prefix.len();
    let digits: String = value[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (digits.len() == 8).then_some(digits)
}

/// The revocation and issuer addresses the certificate itself names.
pub fn addresses(cert: &X509Certificate<'_>) -> Inspected {
    let mut out = Inspected::default();
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::CRLDistributionPoints(points) => {
                for p in points.iter() {
                    if let Some(DistributionPointName::FullName(names)) = &p.distribution_point {
                        for n in names {
                            if let GeneralName::URI(u) = n {
                                out.crl.push((*u).to_owned());
                            }
                        }
                    }
                }
            }
            ParsedExtension::AuthorityInfoAccess(aia) => {
                for d in &aia.accessdescs {
                    if let GeneralName::URI(u) = &d.access_location {
                        match d.access_method.to_id_string().as_str() {
                            AD_OCSP => out.ocsp.push((*u).to_owned()),
                            AD_CA_ISSUERS => out.ca_issuers.push((*u).to_owned()),
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: &str = include_str!("../../../tests/fixtures/tls/client.cert.pem");
    const BROKER: &str = include_str!("../../../tests/fixtures/keys/broker.cert.pem");

    fn der(pem_text: &str) -> Vec<u8> {
        ::pem::parse(pem_text).unwrap().into_contents()
    }

    #[test]
    fn an_ec_certificate_is_not_rsa() {
        let d = der(CLIENT);
        let (_, c) = X509Certificate::from_der(&d).unwrap();
        let checks = inspect(&c, None, 1_900_000_000, "s");
        let rsa = checks.iter().find(|c| c.name == "RSA certificate").unwrap();
        assert_eq!(rsa.status, Status::Failed, "{rsa:?}");
        let ku = checks.iter().find(|c| c.name == "key usage").unwrap();
        assert_eq!(ku.status, Status::Ok, "{ku:?}");
    }

    #[test]
    fn expiry_is_judged_at_the_given_time() {
        let d = der(BROKER);
        let (_, c) = X509Certificate::from_der(&d).unwrap();
        let not_after = c.validity().not_after.timestamp();
        let status = |now| {
            inspect(&c, None, now, "s")
                .into_iter()
                .find(|c| c.name == "validity")
                .unwrap()
                .status
        };
        assert_eq!(status(not_after - 40 * 86_400), Status::Ok);
        assert_eq!(status(not_after - 10 * 86_400), Status::Warning);
        assert_eq!(status(not_after + 1), Status::Failed);
        assert_eq!(status(0), Status::Failed, "not yet valid");
    }

    #[test]
    fn subjects_name_the_cvr() {
        assert_eq!(
            cvr_after("CVR:12345678-FID:1234", "CVR:").as_deref(),
            Some("12345678")
        );
        assert_eq!(
            cvr_after("Example A/S // CVR: 12345678", "CVR:").as_deref(),
            Some("12345678")
        );
        assert_eq!(
            cvr_after("NTRDK-12345678", "NTRDK-").as_deref(),
            Some("12345678")
        );
        assert_eq!(cvr_after("CVR:1234", "CVR:"), None);
        let d = der(BROKER);
        let (_, c) = X509Certificate::from_der(&d).unwrap();
        assert_eq!(subject_check(&c, "s").status, Status::Warning);
    }
}
