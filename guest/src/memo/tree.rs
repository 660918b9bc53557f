//! The small element tree the reader keeps for one part of a message (the header, a document
//! without its file contents, a file's description), and its conversion into the typed model.
//!
//! Why a tree: these parts are small and bounded, and converting a finished tree reads plainly
//! (`node.text("label")`), while the streamed parts (file contents) never enter it.

use super::model::{
    Action, AdditionalContentData, AttentionData, AttentionPerson, CaseId, ContactInfo,
    ContactPoint, ContentData, ContentResponsible, DocumentInfo, DocumentKind, Email,
    ExtensionAttribute, ExtensionNode, FileInfo, ForwardData, GeneratingSystem, Header,
    MemoVersion, MessageType, Recipient, ReplyData, Representative, Reservation, Sender, Telephone,
};
use super::problem::Position;
use super::values::parse_boolean;

/// One element.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// Whether the element is in the MeMo namespace.
    pub memo: bool,
    /// Namespace URI of a non-MeMo element.
    pub namespace: String,
    /// Local name.
    pub name: String,
    /// Attributes (kept for extension elements only).
    pub attributes: Vec<ExtensionAttribute>,
    /// Where it starts.
    pub position: Position,
    /// Text of a simple or extension element.
    pub text: String,
    /// Child elements that are kept.
    pub children: Vec<Node>,
}

impl Node {
    /// The first MeMo child with this name.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.memo && c.name == name)
    }

    /// All MeMo children with this name.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children
            .iter()
            .filter(move |c| c.memo && c.name == name)
    }

    /// A required string child's text; empty when absent (validation reports that).
    pub fn text(&self, name: &str) -> String {
        self.child(name).map(|c| c.text.clone()).unwrap_or_default()
    }

    /// An optional string child's text.
    pub fn opt(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text.clone())
    }

    fn boolean(&self, name: &str) -> Option<bool> {
        self.child(name).and_then(|c| parse_boolean(c.text.trim()))
    }

    /// The non-MeMo children, flattened in document order.
    pub fn extensions(&self) -> Vec<ExtensionNode> {
        let mut out = Vec::new();
        for c in self.children.iter().filter(|c| !c.memo) {
            flatten(c, 0, &mut out);
        }
        out
    }
}

fn flatten(node: &Node, depth: u32, out: &mut Vec<ExtensionNode>) {
    out.push(ExtensionNode {
        depth,
        namespace: node.namespace.clone(),
        name: node.name.clone(),
        attributes: node.attributes.clone(),
        text: node.text.clone(),
    });
    for c in &node.children {
        flatten(c, depth.saturating_add(1), out);
    }
}

/// `MessageHeader` as the model's [`Header`].
pub fn header(node: &Node, memo_version: MemoVersion, memo_sch_version: Option<String>) -> Header {
    Header {
        memo_version,
        memo_sch_version,
        message_type: match node.child("messageType").map(|t| t.text.as_str()) {
            Some("NEMSMS") => MessageType::Nemsms,
            _ => MessageType::Digitalpost,
        },
        message_uuid: node.text("messageUUID"),
        message_id: node.opt("messageID"),
        message_code: node.opt("messageCode"),
        label: node.text("label"),
        notification: node.opt("notification"),
        additional_notification: node.opt("additionalNotification"),
        reply: node.boolean("reply"),
        reply_by_date_time: node.opt("replyByDateTime"),
        do_not_deliver_until_date: node.opt("doNotDeliverUntilDate"),
        mandatory: node.boolean("mandatory"),
        legal_notification: node.boolean("legalNotification"),
        post_type: node.opt("postType"),
        sender: node.child("Sender").map(sender).unwrap_or_default(),
        recipient: node.child("Recipient").map(recipient).unwrap_or_default(),
        content_data: node.child("ContentData").map(content_data),
        forward_data: node.child("ForwardData").map(forward_data),
        reply_data: node.all("ReplyData").map(reply_data).collect(),
    }
}

fn sender(n: &Node) -> Sender {
    Sender {
        sender_id: n.text("senderID"),
        id_type: n.text("idType"),
        id_type_label: n.opt("idTypeLabel"),
        label: n.text("label"),
        attention_data: n.child("AttentionData").map(attention_data),
        contact_point: n.child("ContactPoint").map(contact_point),
        representative: n.child("Representative").map(|r| Representative {
            representative_id: r.text("representativeID"),
            id_type: r.text("idType"),
            id_type_label: r.opt("idTypeLabel"),
            label: r.opt("label"),
        }),
    }
}

fn recipient(n: &Node) -> Recipient {
    Recipient {
        recipient_id: n.text("recipientID"),
        id_type: n.text("idType"),
        id_type_label: n.opt("idTypeLabel"),
        label: n.opt("label"),
        attention_data: n.child("AttentionData").map(attention_data),
        contact_point: n.child("ContactPoint").map(contact_point),
    }
}

fn attention_data(n: &Node) -> AttentionData {
    AttentionData {
        attention_person: n.child("AttentionPerson").map(|c| AttentionPerson {
            person_id: c.text("personID"),
            label: c.opt("label"),
        }),
        email: n.child("EMail").map(|c| Email {
            email_address: c.text("emailAddress"),
            related_agent: c.opt("relatedAgent"),
        }),
        telephone: n.child("Telephone").map(|c| Telephone {
            telephone_number: c.text("telephoneNumber"),
            related_agent: c.opt("relatedAgent"),
        }),
        content_responsible: n.child("ContentResponsible").map(|c| ContentResponsible {
            content_responsible_id: c.text("contentResponsibleID"),
            label: c.opt("label"),
        }),
        generating_system: n.child("GeneratingSystem").map(|c| GeneratingSystem {
            generating_system_id: c.text("generatingSystemID"),
            label: c.opt("label"),
        }),
        extensions: n.extensions(),
    }
}

fn label_value(n: &Node) -> ContactInfo {
    ContactInfo {
        label: n.text("label"),
        value: n.text("value"),
    }
}

fn contact_point(n: &Node) -> ContactPoint {
    ContactPoint {
        contact_group: n.opt("contactGroup"),
        contact_point_id: n.text("contactPointID"),
        label: n.opt("label"),
        contact_info: n.all("ContactInfo").map(label_value).collect(),
    }
}

fn content_data(n: &Node) -> ContentData {
    ContentData {
        case_id: n.child("CaseID").map(|c| CaseId {
            case_id: c.text("caseID"),
            case_system: c.opt("caseSystem"),
        }),
        additional_content_data: n
            .all("AdditionalContentData")
            .map(|c| AdditionalContentData {
                content_data_type: c.opt("contentDataType"),
                content_data_name: c.text("contentDataName"),
                content_data_value: c.text("contentDataValue"),
            })
            .collect(),
        extensions: n.extensions(),
    }
}

fn forward_data(n: &Node) -> ForwardData {
    ForwardData {
        message_uuid: n.text("messageUUID"),
        original_message_date_time: n.text("originalMessageDateTime"),
        original_sender: n.text("originalSender"),
        original_content_responsible: n.opt("originalContentResponsible"),
        original_representative: n.opt("originalRepresentative"),
        contact_point_id: n.opt("contactPointID"),
        comment: n.opt("comment"),
    }
}

fn reply_data(n: &Node) -> ReplyData {
    ReplyData {
        message_id: n.opt("messageID"),
        message_uuid: n.text("messageUUID"),
        reply_uuid: n.opt("replyUUID"),
        sender_id: n.opt("senderID"),
        recipient_id: n.opt("recipientID"),
        case_id: n.opt("caseID"),
        contact_point_id: n.opt("contactPointID"),
        generating_system_id: n.opt("generatingSystemID"),
        comment: n.opt("comment"),
        additional_reply_data: n.all("AdditionalReplyData").map(label_value).collect(),
    }
}

/// A document element's kind, id and label.
pub fn document_info(n: &Node, kind: DocumentKind) -> DocumentInfo {
    DocumentInfo {
        kind,
        id: n.opt(kind.id_element()),
        label: n.opt("label"),
    }
}

/// A `File` element's description.
pub fn file_info(n: &Node) -> FileInfo {
    FileInfo {
        encoding_format: n.text("encodingFormat"),
        filename: n.text("filename"),
        language: n.text("language"),
    }
}

/// A document's `Action` elements.
pub fn actions(n: &Node) -> Vec<Action> {
    n.all("Action")
        .map(|a| Action {
            label: a.text("label"),
            action_code: a.text("actionCode"),
            start_date_time: a.opt("startDateTime"),
            end_date_time: a.opt("endDateTime"),
            reservation: a.child("Reservation").map(|r| Reservation {
                description: r.opt("description"),
                reservation_uuid: r.opt("reservationUUID"),
                abstract_text: r.opt("abstract"),
                location: r.opt("location"),
                start_date_time: r.opt("startDateTime"),
                end_date_time: r.opt("endDateTime"),
                organizer_mail: r.opt("organizerMail"),
                organizer_name: r.opt("organizerName"),
            }),
            entry_point_url: a.child("EntryPoint").map(|e| e.text("url")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(name: &str, text: &str) -> Node {
        Node {
            memo: true,
            name: name.into(),
            text: text.into(),
            ..Node::default()
        }
    }

    #[test]
    fn extensions_flatten_in_document_order_with_depth() {
        let grd = |name: &str, text: &str, children: Vec<Node>| Node {
            memo: false,
            namespace: "urn:grd".into(),
            name: name.into(),
            text: text.into(),
            children,
            ..Node::default()
        };
        let n = Node {
            memo: true,
            name: "ContentData".into(),
            children: vec![
                grd("A", "", vec![grd("b", "1", vec![]), grd("c", "2", vec![])]),
                leaf("x", "y"),
            ],
            ..Node::default()
        };
        let ext = n.extensions();
        let shape: Vec<(u32, &str, &str)> = ext
            .iter()
            .map(|e| (e.depth, e.name.as_str(), e.text.as_str()))
            .collect();
        assert_eq!(shape, vec![(0, "A", ""), (1, "b", "1"), (1, "c", "2")]);
    }

    #[test]
    fn absent_and_invalid_values_map_to_defaults() {
        let n = Node {
            memo: true,
            name: "MessageHeader".into(),
            children: vec![leaf("messageType", "NEMSMS"), leaf("reply", "maybe")],
            ..Node::default()
        };
        let h = header(&n, MemoVersion::V1_1, None);
        assert_eq!(h.message_type, MessageType::Nemsms);
        assert_eq!(h.reply, None);
        assert_eq!(h.label, "");
    }
}
