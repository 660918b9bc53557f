//! The ways the real Digipost may behave where its behaviour is not published, or varies, each
//! a switch of the simulator so that the client is tested against every one (issue 13; the
//! sources and what is not known are in docs/digipost-wire.md).

/// How the entrypoint's `<certificate>` PEM is wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PemLayout {
    /// 64-column lines, as RFC 7468 and OpenSSL write them.
    #[value(name = "64")]
    Wrap64,
    /// 76-column lines, as Digipost's documented entrypoint example shows it
    /// (digipost-docs f5b24ff, `security.rst` §4.2).
    #[default]
    #[value(name = "76")]
    Wrap76,
    /// The whole base64 on one line between the BEGIN and END lines.
    #[value(name = "one-line")]
    OneLine,
}

impl PemLayout {
    /// A certificate (its DER in `base64`) as PEM in this layout.
    pub fn write(self, base64: &str) -> String {
        let width = match self {
            PemLayout::Wrap64 => 64,
            PemLayout::Wrap76 => 76,
            PemLayout::OneLine => base64.len().max(1),
        };
        let lines: Vec<&str> = base64
            .as_bytes()
            .chunks(width)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----",
            lines.join("\n")
        )
    }
}

/// Which `<error-code>` a missing inbox document gets (always status 404).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MissingDocument {
    /// `GENERAL_ERROR` with type `SERVER`: the only public sample of Digipost's answer
    /// (digipost-api-client-dotnet 4425582, `InboxDocumentNotExisting.xml`).
    #[default]
    #[value(name = "general-error")]
    GeneralError,
    /// `DOCUMENT_NOT_FOUND` with type `CLIENT_TECHNICAL`, a code the Java client knows.
    #[value(name = "document-not-found")]
    DocumentNotFound,
}

/// How the inbox listing says where a document's content and delete are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DocumentUris {
    /// `content-uri` and `delete-uri` as full URLs on the API host, as the Java client
    /// receives them.
    #[default]
    #[value(name = "absolute")]
    Absolute,
    /// `content-uri` and `delete-uri` as paths.
    #[value(name = "relative")]
    Relative,
    /// No `content-uri`/`delete-uri`, only `<link>`s with the .NET client's relations
    /// (`…/get_document_content`, `…/self_delete`).
    #[value(name = "links")]
    Links,
}

/// The relation of a document's content link, as the .NET client looks for it.
pub const REL_CONTENT: &str = "https://api.digipost.no/relations/get_document_content";
/// The relation of a document's delete link.
pub const REL_DELETE: &str = "https://api.digipost.no/relations/self_delete";

/// Every switch, defaulting to what the published sources show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variants {
    /// The entrypoint certificate's PEM layout.
    pub certificate_pem: PemLayout,
    /// Sign `GET /`'s answer. Digipost says it signs every response; its clients never
    /// checked this one.
    pub entrypoint_signed: bool,
    /// Sign the 307 from `/content`. Not known for the live service.
    pub redirect_signed: bool,
    /// The code of a missing document's 404.
    pub missing_document: MissingDocument,
    /// How the listing names content and delete URIs.
    pub document_uris: DocumentUris,
    /// Send (and sign) `X-Digipost-UserId` on responses; the Java client's canonical response
    /// string covers it when present. Not known whether the live service sends it.
    pub response_user_id: bool,
}

impl Default for Variants {
    fn default() -> Self {
        Variants {
            certificate_pem: PemLayout::default(),
            entrypoint_signed: true,
            redirect_signed: true,
            missing_document: MissingDocument::default(),
            document_uris: DocumentUris::default(),
            response_user_id: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_layouts() {
        let b64 = "A".repeat(100);
        let lines = |l: PemLayout| l.write(&b64).lines().map(str::len).collect::<Vec<_>>();
        assert_eq!(lines(PemLayout::Wrap64), [27, 64, 36, 25]);
        assert_eq!(lines(PemLayout::Wrap76), [27, 76, 24, 25]);
        assert_eq!(lines(PemLayout::OneLine), [27, 100, 25]);
    }
}
