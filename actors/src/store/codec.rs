//! The value codec: one version byte, then bincode. The only file that names bincode.
//!
//! bincode 1.3 cannot decode `serde_json::Value`, `#[serde(flatten)]` or
//! `skip_serializing_if`; records keep free-form JSON as text for that reason.
//!
//! How a stored type may change: only by appending fields whose zero
//! encoding is their absent value (`Option` = `None`, a number = 0, a
//! `bool` = `false`, a `String` or `Vec` = empty), and with a new
//! [`VALUE_VERSION`]. bincode is not self-describing, so a record of an
//! older version is shorter than its type now expects: [`decode`] reads it
//! followed by zero bytes, which the appended fields take as absent. Types
//! that did not change ignore those bytes (bincode's default options allow
//! trailing bytes). Renaming, removing, reordering or retyping a field
//! needs a real migration instead.
//!
//! Versions: 1, the first layout; 2, `Conversation::project_id` and
//! `Document::project_id` (`Option<Uuid>`) appended.

use serde::{Serialize, de::DeserializeOwned};

use super::StoreError;

/// The record layout written today. Bump it when a stored type gains a
/// field (see the module's rules). A build that reads only older versions
/// refuses these records instead of rewriting them without the new field.
pub const VALUE_VERSION: u8 = 2;

/// The oldest version [`decode`] still reads.
const OLDEST_VERSION: u8 = 1;

/// Zero bytes read after an older record: room for the fields appended
/// since (a `String` or `Vec` takes 8, an `Option` 1 when absent).
const APPENDED_ZEROES: [u8; 64] = [0; 64];

/// Serializes a record behind its version byte.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(64);
    out.push(VALUE_VERSION);
    bincode::serialize_into(&mut out, value).map_err(|e| StoreError::Codec(e.to_string()))?;
    Ok(out)
}

/// Reads a record written by [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&VALUE_VERSION, body)) => {
            bincode::deserialize(body).map_err(|e| StoreError::Codec(e.to_string()))
        }
        Some((&version, body)) if (OLDEST_VERSION..VALUE_VERSION).contains(&version) => {
            let mut padded = Vec::with_capacity(body.len() + APPENDED_ZEROES.len());
            padded.extend_from_slice(body);
            padded.extend_from_slice(&APPENDED_ZEROES);
            bincode::deserialize(&padded).map_err(|e| StoreError::Codec(e.to_string()))
        }
        Some((other, _)) => Err(StoreError::Codec(format!("unknown record version {other}"))),
        None => Err(StoreError::Codec("empty record".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Sample {
        id: u64,
        name: String,
        metadata_json: String,
        score: Option<f32>,
    }

    #[test]
    fn a_record_round_trips_behind_its_version_byte() {
        let s = Sample {
            id: 7,
            name: "x".into(),
            metadata_json: r#"{"a":1}"#.into(),
            score: None,
        };
        let bytes = encode(&s).unwrap();
        assert_eq!(bytes[0], VALUE_VERSION);
        assert_eq!(decode::<Sample>(&bytes).unwrap(), s);
    }

    /// [`Sample`] as version 1 stored it, before `tags` and `parent` were appended.
    #[derive(Serialize)]
    struct SampleV1 {
        id: u64,
        name: String,
        metadata_json: String,
        score: Option<f32>,
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct SampleV2 {
        id: u64,
        name: String,
        metadata_json: String,
        score: Option<f32>,
        tags: Vec<String>,
        parent: Option<uuid::Uuid>,
    }

    fn as_version_1<T: Serialize>(value: &T) -> Vec<u8> {
        let mut bytes = vec![1u8];
        bytes.extend(bincode::serialize(value).unwrap());
        bytes
    }

    #[test]
    fn a_version_1_record_reads_its_appended_fields_as_absent() {
        let old = SampleV1 {
            id: 7,
            name: "x".into(),
            metadata_json: "{}".into(),
            score: Some(0.5),
        };
        let read: SampleV2 = decode(&as_version_1(&old)).unwrap();
        assert_eq!(
            read,
            SampleV2 {
                id: 7,
                name: "x".into(),
                metadata_json: "{}".into(),
                score: Some(0.5),
                tags: Vec::new(),
                parent: None,
            }
        );
        // A type that did not change reads the same record as before.
        let same: Sample = decode(&as_version_1(&old)).unwrap();
        assert_eq!(same.score, Some(0.5));
    }

    #[test]
    fn an_unknown_version_is_an_error_not_garbage() {
        let mut bytes = encode(&1u32).unwrap();
        bytes[0] = 99;
        assert!(matches!(decode::<u32>(&bytes), Err(StoreError::Codec(_))));
        bytes[0] = 0;
        assert!(matches!(decode::<u32>(&bytes), Err(StoreError::Codec(_))));
        assert!(decode::<u32>(&[]).is_err());
    }
}
