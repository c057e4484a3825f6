//! Stored types read from records of older versions (`store::codec`).

use serde::Serialize;
use uuid::Uuid;

use crate::model::{Conversation, Document, DocumentStatus, JsonText};
use crate::store::{decode, encode};

/// `value` as version 1 of the codec wrote it: its version byte, then bincode.
fn as_version_1<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = vec![1u8];
    bytes.extend(bincode::serialize(value).unwrap());
    bytes
}

#[test]
fn version_1_conversations_and_documents_still_decode() {
    // The layouts as version 1 wrote them: the current ones without `project_id`.
    #[derive(Serialize)]
    struct ConversationV1 {
        id: Uuid,
        user_id: Uuid,
        title: String,
        persona_id: Option<Uuid>,
        provider: Option<String>,
        model: Option<String>,
        system_prompt: Option<String>,
        metadata_json: JsonText,
        tag_ids: Vec<Uuid>,
        message_count: u64,
        created_at: i64,
        updated_at: i64,
    }
    #[derive(Serialize)]
    struct DocumentV1 {
        id: Uuid,
        user_id: Uuid,
        title: String,
        status: DocumentStatus,
        size_bytes: u64,
        chunk_count: u32,
        error: Option<String>,
        job_id: Option<Uuid>,
        created_at: i64,
    }
    let tag = Uuid::now_v7();
    let conv = ConversationV1 {
        id: Uuid::now_v7(),
        user_id: Uuid::now_v7(),
        title: "old".into(),
        persona_id: None,
        provider: Some("echo".into()),
        model: None,
        system_prompt: Some("be brief".into()),
        metadata_json: JsonText::empty_object(),
        tag_ids: vec![tag],
        message_count: 3,
        created_at: 1,
        updated_at: 2,
    };
    let read: Conversation = decode(&as_version_1(&conv)).unwrap();
    assert_eq!(read.id, conv.id);
    assert_eq!(read.tag_ids, vec![tag]);
    assert_eq!(read.system_prompt.as_deref(), Some("be brief"));
    assert_eq!((read.message_count, read.updated_at), (3, 2));
    assert_eq!(read.project_id, None);

    let doc = DocumentV1 {
        id: Uuid::now_v7(),
        user_id: Uuid::now_v7(),
        title: "notes.md".into(),
        status: DocumentStatus::Ready,
        size_bytes: 10,
        chunk_count: 1,
        error: None,
        job_id: Some(tag),
        created_at: 5,
    };
    let read: Document = decode(&as_version_1(&doc)).unwrap();
    assert_eq!(
        (read.id, read.job_id, read.created_at),
        (doc.id, Some(tag), 5)
    );
    assert_eq!(read.status, DocumentStatus::Ready);
    assert_eq!(read.project_id, None);

    // And a record written now round-trips with its project.
    let project = Some(Uuid::now_v7());
    let now = Document {
        project_id: project,
        ..read
    };
    let back: Document = decode(&encode(&now).unwrap()).unwrap();
    assert_eq!(back.project_id, project);
}
