//! The value codec: one version byte, then bincode. The only file that names bincode.
//!
//! bincode 1.3 cannot decode `serde_json::Value`, `#[serde(flatten)]` or
//! `skip_serializing_if`; records keep free-form JSON as text for that reason.

use serde::{Serialize, de::DeserializeOwned};

use super::StoreError;

/// The record layout written today. Bump it (and teach [`decode`] the old
/// layout) when a stored type changes shape.
pub const VALUE_VERSION: u8 = 1;

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

    #[test]
    fn an_unknown_version_is_an_error_not_garbage() {
        let mut bytes = encode(&1u32).unwrap();
        bytes[0] = 99;
        assert!(matches!(decode::<u32>(&bytes), Err(StoreError::Codec(_))));
        assert!(decode::<u32>(&[]).is_err());
    }
}
