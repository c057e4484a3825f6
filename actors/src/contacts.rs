//! The public contact form (API.md 8): submissions are checked, stored,
//! given a reference the sender can quote, and sent on as a
//! `contact.submitted` webhook. Admins list them. This file is the only one
//! that touches the contact table.

use rand::Rng;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::accounts::validate;
use crate::error::CoreError;
use crate::jobs::Jobs;
use crate::jobs::webhook::{WebhookTarget, queue_event};
use crate::model::{ContactSubmission, JsonText, limits, now_ms};
use crate::store::{Store, Table};

/// The longest message, in characters.
pub const MESSAGE_CHARS: usize = 10_000;
/// The longest phone number, in characters.
pub const PHONE_CHARS: usize = 64;
/// `extra_fields`: at most this many keys,
pub const EXTRA_FIELDS_KEYS: usize = 20;
/// each of at most this many characters,
pub const EXTRA_KEY_CHARS: usize = 64;
/// whose values are strings of at most this many characters, numbers,
/// booleans or null (so an object stays under about 12,000 characters).
pub const EXTRA_VALUE_CHARS: usize = 500;
/// The reference's alphabet: upper-case letters and digits without the
/// look-alikes 0/O, 1/I/L, so it can be read out over the phone.
const REFERENCE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// What the form sends.
#[derive(Debug, Clone, Default)]
pub struct NewContact {
    /// The sender's name, 1-255 characters.
    pub name: String,
    /// A valid address (stored lower-cased).
    pub email: String,
    /// 1-10,000 characters.
    pub message: String,
    /// At most 255 characters.
    pub subject: Option<String>,
    /// At most 64 characters.
    pub phone: Option<String>,
    /// At most 255 characters.
    pub company: Option<String>,
    /// A JSON object of at most 20 keys of at most 64 characters, each
    /// value a string of at most 500 characters, a number, a boolean or null.
    pub extra_fields: Option<Value>,
    /// At most 255 characters.
    pub source: Option<String>,
}

/// The contact submissions, and where their webhook goes. Cheap to clone.
#[derive(Clone)]
pub struct Contacts {
    store: Store,
    /// Keyed by a v7 id: key order is arrival order.
    submissions: Table<Uuid, ContactSubmission>,
    jobs: Jobs,
    webhooks: Option<WebhookTarget>,
}

/// `CNT-` and 8 random characters of [`REFERENCE_ALPHABET`].
pub fn reference_id() -> String {
    let mut rng = rand::rng();
    let tail: String = (0..8)
        .map(|_| char::from(REFERENCE_ALPHABET[rng.random_range(0..REFERENCE_ALPHABET.len())]))
        .collect();
    format!("CNT-{tail}")
}

fn check_extra(extra: Option<Value>) -> Result<JsonText, CoreError> {
    let map = match extra {
        None | Some(Value::Null) => return Ok(JsonText::empty_object()),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(CoreError::validation(
                "extra_fields",
                "must be a JSON object",
            ));
        }
    };
    if map.len() > EXTRA_FIELDS_KEYS {
        return Err(CoreError::validation(
            "extra_fields",
            format!("at most {EXTRA_FIELDS_KEYS} keys"),
        ));
    }
    for (key, value) in &map {
        let field = format!("extra_fields.{key}");
        if key.chars().count() > EXTRA_KEY_CHARS {
            return Err(CoreError::validation(
                "extra_fields",
                format!("keys of at most {EXTRA_KEY_CHARS} characters"),
            ));
        }
        match value {
            Value::String(s) if s.chars().count() > EXTRA_VALUE_CHARS => {
                return Err(CoreError::validation(
                    field,
                    format!("at most {EXTRA_VALUE_CHARS} characters"),
                ));
            }
            Value::Array(_) | Value::Object(_) => {
                return Err(CoreError::validation(
                    field,
                    "a string, number, boolean or null",
                ));
            }
            _ => {}
        }
    }
    Ok(JsonText::from_value(&Value::Object(map)))
}

fn check_message(message: &str) -> Result<(), CoreError> {
    if message.trim().is_empty() || message.chars().count() > MESSAGE_CHARS {
        return Err(CoreError::validation(
            "message",
            format!("1-{MESSAGE_CHARS} characters"),
        ));
    }
    Ok(())
}

impl Contacts {
    /// Opens the contact table; `webhooks` is where `contact.submitted` goes.
    pub fn open(
        store: Store,
        jobs: Jobs,
        webhooks: Option<WebhookTarget>,
    ) -> Result<Self, CoreError> {
        Ok(Self {
            submissions: store.table("contact_submissions")?,
            store,
            jobs,
            webhooks,
        })
    }

    /// Checks and stores a submission from `ip`, then queues its webhook.
    pub async fn submit(
        &self,
        new: NewContact,
        ip: Option<String>,
    ) -> Result<ContactSubmission, CoreError> {
        limits::name("name", &new.name)?;
        let email = validate::email(&new.email)?;
        check_message(&new.message)?;
        limits::chars("subject", new.subject.as_deref(), limits::NAME_CHARS)?;
        limits::chars("phone", new.phone.as_deref(), PHONE_CHARS)?;
        limits::chars("company", new.company.as_deref(), limits::NAME_CHARS)?;
        limits::chars("source", new.source.as_deref(), limits::NAME_CHARS)?;
        let extra_fields_json = check_extra(new.extra_fields)?;
        let submission = ContactSubmission {
            id: Uuid::now_v7(),
            reference_id: reference_id(),
            name: new.name,
            email,
            message: new.message,
            subject: new.subject,
            phone: new.phone,
            company: new.company,
            extra_fields_json,
            source: new.source,
            ip,
            created_at: now_ms(),
        };
        self.submissions.insert(&submission.id, &submission)?;
        self.store.commit().await?;
        if let Some(target) = &self.webhooks {
            queue_event(
                &self.jobs,
                target,
                "contact.submitted",
                event_data(&submission)?,
            )
            .await;
        }
        Ok(submission)
    }

    /// A page of every submission, newest first, and how many there are.
    /// Reads keys only for what the page skips.
    pub fn list(
        &self,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<ContactSubmission>, usize), CoreError> {
        let (mut items, mut total) = (Vec::new(), 0);
        for key in self.submissions.keys_with_prefix(&[][..]).rev() {
            let key = key?;
            if total >= skip && items.len() < limit {
                let id = crate::per_user::id_at(&key, 0)?;
                if let Some(s) = self.submissions.get(&id)? {
                    items.push(s);
                }
            }
            total += 1;
        }
        Ok((items, total))
    }
}

/// The webhook's `data`: the submission as the admin list shows it, without the IP.
fn event_data(s: &ContactSubmission) -> Result<Value, CoreError> {
    Ok(json!({
        "contact": {
            "id": s.id,
            "reference_id": s.reference_id,
            "name": s.name,
            "email": s.email,
            "subject": s.subject,
            "message": s.message,
            "phone": s.phone,
            "company": s.company,
            "extra_fields": s.extra_fields_json.parse()?,
            "source": s.source,
            "created_at": chrono::DateTime::from_timestamp_millis(s.created_at)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_is_cnt_and_eight_unambiguous_characters() {
        for _ in 0..200 {
            let r = reference_id();
            let tail = r.strip_prefix("CNT-").unwrap();
            assert_eq!(tail.len(), 8);
            assert!(tail.bytes().all(|b| REFERENCE_ALPHABET.contains(&b)), "{r}");
            assert!(!tail.contains(['O', '0', 'I', '1', 'L']), "{r}");
        }
        assert_ne!(reference_id(), reference_id());
    }

    #[test]
    fn extra_fields_must_be_a_small_object() {
        assert_eq!(check_extra(None).unwrap().as_str(), "{}");
        assert!(check_extra(Some(json!({"plan": "pro"}))).is_ok());
        assert!(check_extra(Some(json!([1]))).is_err());
        let many: serde_json::Map<String, Value> =
            (0..21).map(|i| (format!("k{i}"), json!(1))).collect();
        assert!(check_extra(Some(Value::Object(many))).is_err());
        assert!(check_extra(Some(json!({"k": "x".repeat(501)}))).is_err());
        assert!(check_extra(Some(json!({"k": "x".repeat(500), "n": 2, "b": true}))).is_ok());
        assert!(check_extra(Some(json!({"k": {"nested": 1}}))).is_err());
        assert!(check_extra(Some(json!({"k".repeat(65): 1}))).is_err());
    }
}
