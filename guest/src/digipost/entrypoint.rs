//! The API's entrypoint, `GET /`: the certificate whose key signs every response, and links.
//!
//! ```xml
//! <entrypoint xmlns="http://api.digipost.no/schema/v8">
//!   <certificate>-----BEGIN CERTIFICATE-----...-----END CERTIFICATE-----</certificate>
//!   <link rel="..." uri="..." media-type="..."/>
//! </entrypoint>
//! ```
//! A client fetches it once and verifies later responses with the certificate's key (see
//! [`super::verification`]); this module only reads and writes the document.

use super::inbox::{Link, link, write_link};
use super::xml::{self, SchemaVersion, Trail, WriteError, XmlError, XmlProblem};

/// The entrypoint document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entrypoint {
    /// The server's X.509 certificate in PEM, surrounding whitespace removed.
    pub certificate: String,
    /// The links the entrypoint offers, in document order.
    pub links: Vec<Link>,
}

/// Read an `<entrypoint>` document (v7, v8 or no namespace). The certificate is required and
/// must not be empty; whether it is a usable certificate is decided where it is used.
pub fn parse_entrypoint(xml: &[u8]) -> Result<Entrypoint, XmlError> {
    let doc = xml::read(xml)?;
    let root = doc.expect_root("entrypoint")?;
    let trail = Trail::root("entrypoint");
    let mut certificate = None;
    let mut links = Vec::new();
    for child in root.children.iter().filter(|c| c.is_digipost()) {
        match child.name.as_str() {
            "certificate" => {
                let here = trail.child("certificate");
                if certificate.is_some() {
                    return Err(doc.error(
                        child,
                        &here,
                        XmlProblem::DuplicateElement(child.name.clone()),
                    ));
                }
                let pem = child.text.trim();
                if pem.is_empty() {
                    let problem = XmlProblem::InvalidValue {
                        value: child.text.clone(),
                        reason: "is empty; expected a PEM certificate".into(),
                    };
                    return Err(doc.error(child, &here, problem));
                }
                certificate = Some(pem.to_owned());
            }
            "link" => {
                let here = trail.nth_child("link", links.len() + 1);
                links.push(link(&doc, child, &here)?);
            }
            _ => {}
        }
    }
    let certificate = certificate.ok_or_else(|| {
        doc.error(
            root,
            &trail,
            XmlProblem::MissingElement("certificate".into()),
        )
    })?;
    Ok(Entrypoint { certificate, links })
}

/// Write an `<entrypoint>` document in the namespace of `version`.
pub fn write_entrypoint(
    entrypoint: &Entrypoint,
    version: SchemaVersion,
) -> Result<String, WriteError> {
    let mut w = xml::Writer::new("entrypoint", version);
    w.text_element("certificate", &entrypoint.certificate)?;
    for l in &entrypoint.links {
        write_link(&mut w, l)?;
    }
    Ok(w.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";

    #[test]
    fn reads_the_certificate_and_links() {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<entrypoint xmlns=\"http://api.digipost.no/schema/v8\">\n\
             <link rel=\"https://api.digipost.no/relations/search\" uri=\"https://api.digipost.no/recipients/search\" media-type=\"application/vnd.digipost-v8+xml\"/>\n\
             <certificate>\n{PEM}\n</certificate>\n<unknown/></entrypoint>"
        );
        let e = parse_entrypoint(xml.as_bytes()).unwrap();
        assert_eq!(e.certificate, PEM);
        assert_eq!(e.links.len(), 1);
        assert_eq!(
            e.links[0].media_type.as_deref(),
            Some("application/vnd.digipost-v8+xml")
        );
    }

    #[test]
    fn refuses_an_entrypoint_without_certificate() {
        let e = parse_entrypoint(b"<entrypoint>\n  <certificate>  </certificate></entrypoint>")
            .unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.line, e.column),
            ("/entrypoint/certificate", 2, 3)
        );
        let e = parse_entrypoint(b"<entrypoint/>").unwrap_err();
        assert_eq!(e.problem, XmlProblem::MissingElement("certificate".into()));
    }

    #[test]
    fn written_entrypoint_reads_back() {
        let e = Entrypoint {
            certificate: PEM.into(),
            links: vec![Link {
                rel: Some("self".into()),
                uri: "https://h/".into(),
                media_type: None,
            }],
        };
        for v in [SchemaVersion::V7, SchemaVersion::V8] {
            assert_eq!(
                parse_entrypoint(write_entrypoint(&e, v).unwrap().as_bytes()).unwrap(),
                e
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_entrypoint(&bytes);
        }
    }
}
