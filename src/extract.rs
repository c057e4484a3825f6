//! Extractors whose rejections are `ApiError`s, so a malformed request gets
//! the same envelope as every other error, with `details.field` where a
//! field is at fault.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorKind};

/// A JSON body. Not JSON at all: 400. Wrong shape: 422 naming the field.
/// Over `limits.json_body_bytes`: 413. Not `application/json`: 415.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|m| {
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::new(
                ErrorKind::UnsupportedMediaType,
                "expected Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(Json)
    }
}

/// Parses a request body, telling a syntax error (400) from a shape error
/// (422). Every request body is a JSON object (API.md 0): an array is 422,
/// though serde would read it into a struct's fields by position.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = field_of(e.path().to_string(), &e.inner().to_string());
        match e.inner().classify() {
            serde_json::error::Category::Data => ApiError::validation(field, clean(e.inner())),
            _ => ApiError::bad_request("request body is not valid JSON"),
        }
    })?;
    de.end()
        .map_err(|_| ApiError::bad_request("request body is not valid JSON"))?;
    if bytes.trim_ascii_start().starts_with(b"[") {
        return Err(ApiError::validation("body", "must be a JSON object"));
    }
    Ok(value)
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::from_code(ErrorKind::PayloadTooLarge)
    } else {
        ApiError::bad_request("could not read the request body")
    }
}

/// The dotted path of the field at fault. serde reports a missing field at
/// its parent, so the name is taken from the message then.
fn field_of(path: String, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path.as_str(), missing) {
        (".", Some(name)) => name.to_string(),
        (_, Some(name)) => format!("{path}.{name}"),
        (".", None) => "body".to_string(),
        _ => path,
    }
}

/// serde's message without the " at line 1 column 9" suffix.
fn clean(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A query string. Wrong types or missing fields: 422 naming the field.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| {
                let message = e.inner().to_string();
                let field = field_of(e.path().to_string(), &message);
                ApiError::validation(
                    if field == "body" {
                        "query".into()
                    } else {
                        field
                    },
                    message,
                )
            })
    }
}

/// Path parameters. A value of the wrong type (an id that is not a UUID) is
/// 422 naming the parameter.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                use axum::extract::path::ErrorKind;
                let index = match e.kind() {
                    ErrorKind::ParseErrorAtKey { key, .. }
                    | ErrorKind::InvalidUtf8InPathParam { key } => {
                        return Err(ApiError::validation(key.clone(), e.body_text()));
                    }
                    ErrorKind::ParseErrorAtIndex { index, .. } => *index,
                    _ => 0,
                };
                // A single value (`Path<Uuid>`) is reported without its name.
                let field = axum::extract::RawPathParams::from_request_parts(parts, state)
                    .await
                    .ok()
                    .and_then(|raw| raw.iter().nth(index).map(|(k, _)| k.to_string()))
                    .unwrap_or_else(|| "path".to_string());
                Err(ApiError::validation(field, e.body_text()))
            }
            Err(other) => Err(ApiError::internal(other.body_text())),
        }
    }
}

/// For a field holding a struct: only a JSON object (serde would also read
/// an array into the struct's fields by position). Field paths of errors
/// inside it are kept.
pub fn object<'de, T, D>(de: D) -> Result<T, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    struct OnlyMap<T>(std::marker::PhantomData<T>);
    impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for OnlyMap<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    de.deserialize_map(OnlyMap(std::marker::PhantomData))
}

/// [`object`] for an `Option` field (`null` is `None`).
pub fn object_or_null<'de, T, D>(de: D) -> Result<Option<T>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    struct Nullable<T>(std::marker::PhantomData<T>);
    impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Nullable<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object or null")
        }
        fn visit_none<E>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_some<D2: serde::Deserializer<'de>>(self, de: D2) -> Result<Option<T>, D2::Error> {
            object(de).map(Some)
        }
    }
    de.deserialize_option(Nullable(std::marker::PhantomData))
}

/// For an optional integer field (`Option<u8>` to `Option<u64>`): also
/// takes a number with no fraction (`2.0`), which JSON Schema and
/// JavaScript call an integer. Use with `#[serde(default, deserialize_with = "whole")]`.
pub fn whole<'de, T, D>(de: D) -> Result<Option<T>, D::Error>
where
    T: TryFrom<u64>,
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    let Some(n) = <Option<serde_json::Number> as serde::Deserialize>::deserialize(de)? else {
        return Ok(None);
    };
    n.as_u64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(f))
                .map(|f| f as u64)
        })
        .and_then(|v| T::try_from(v).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("{n} is not a whole number in range")))
}

/// [`whole`] for a required integer field: present, not `null`.
/// Use with `#[serde(deserialize_with = "whole_required")]`.
pub fn whole_required<'de, T, D>(de: D) -> Result<T, D::Error>
where
    T: TryFrom<u64>,
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    whole(de)?.ok_or_else(|| D::Error::custom("a whole number, not null"))
}

/// [`whole`] for a field where `null` clears the value (see [`double_option`]).
pub fn whole_or_clear<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: TryFrom<u64>,
    D: serde::Deserializer<'de>,
{
    whole(de).map(Some)
}

/// For `Option<Option<T>>` fields: absent = `None` (leave as is), `null` =
/// `Some(None)` (clear), a value = `Some(Some(v))`. Use with `#[serde(default)]`.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(de).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Inner,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    fn details_field(e: &ApiError) -> String {
        e.details.as_ref().unwrap()["field"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[derive(serde::Deserialize, Debug)]
    struct Counted {
        #[serde(default, deserialize_with = "whole")]
        n: Option<u8>,
    }

    #[derive(serde::Deserialize, Debug)]
    struct Outer {
        #[serde(default, deserialize_with = "object_or_null")]
        inner: Option<Inner>,
    }

    #[test]
    fn a_nested_struct_takes_an_object_only() {
        let e = parse_json::<Outer>(br#"{"inner": [7]}"#).unwrap_err();
        assert_eq!(details_field(&e), "inner");
        let e = parse_json::<Outer>(br#"{"inner": {"count": "x"}}"#).unwrap_err();
        assert_eq!(details_field(&e), "inner.count");
        let ok = parse_json::<Outer>(br#"{"inner": {"count": 7}}"#).unwrap();
        assert_eq!(ok.inner.unwrap().count, 7);
        assert!(
            parse_json::<Outer>(br#"{"inner": null}"#)
                .unwrap()
                .inner
                .is_none()
        );
        assert!(parse_json::<Outer>(b"{}").unwrap().inner.is_none());
    }

    #[test]
    fn an_integer_field_takes_a_whole_float_and_nothing_else() {
        let n = |body: &str| parse_json::<Counted>(body.as_bytes()).map(|c| c.n);
        assert_eq!(n(r#"{"n": 7}"#).unwrap(), Some(7));
        assert_eq!(n(r#"{"n": 7.0}"#).unwrap(), Some(7));
        assert_eq!(n(r#"{"n": null}"#).unwrap(), None);
        assert_eq!(n("{}").unwrap(), None);
        for bad in [
            r#"{"n": 7.5}"#,
            r#"{"n": 256}"#,
            r#"{"n": -1}"#,
            r#"{"n": "7"}"#,
        ] {
            assert_eq!(n(bad).unwrap_err().code, ErrorKind::Validation, "{bad}");
        }
    }

    #[test]
    fn a_syntax_error_is_400() {
        let e = parse_json::<Body>(b"{not json").unwrap_err();
        assert_eq!(e.code, ErrorKind::BadRequest);
    }

    #[test]
    fn a_missing_field_is_422_naming_it() {
        let e = parse_json::<Body>(br#"{"inner":{"count":1}}"#).unwrap_err();
        assert_eq!(e.code, ErrorKind::Validation);
        assert_eq!(details_field(&e), "name");
        let e = parse_json::<Body>(br#"{"name":"x","inner":{}}"#).unwrap_err();
        assert_eq!(details_field(&e), "inner.count");
    }

    #[test]
    fn an_array_is_422_even_where_serde_would_read_it_as_a_struct() {
        let e = parse_json::<Inner>(b" [7]").unwrap_err();
        assert_eq!(e.code, ErrorKind::Validation);
        assert_eq!(details_field(&e), "body");
        assert_eq!(parse_json::<Inner>(br#"{"count":7}"#).unwrap().count, 7);
    }

    #[test]
    fn a_wrong_type_is_422_naming_the_nested_field() {
        let e = parse_json::<Body>(br#"{"name":"x","inner":{"count":"many"}}"#).unwrap_err();
        assert_eq!(e.code, ErrorKind::Validation);
        assert_eq!(details_field(&e), "inner.count");
        assert!(!e.message.contains("line"), "{}", e.message);
    }
}
