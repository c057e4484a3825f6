//! The audit records of setting-definition changes (API.md 10: every
//! admin action is recorded): `setting_definition.created`, `.updated`
//! (PUT and PATCH, with the fields that changed) and `.deleted`.

use axum::http::request::Parts;
use chorus_actors::audit::AuditEvent;
use chorus_actors::changes::changed_fields;
use chorus_actors::model::SettingDefinition;
use serde_json::{Value, json};

use super::settings::DefinitionView;
use crate::auth::{Admin, client_ip};
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;

type Answer<T> = Result<Json<T>, ApiError>;

/// Records an admin's change of definition `id` in the audit log
/// (`setting_definition.created`, `.updated` with the fields that changed,
/// `.deleted`). The change is already durable: a failed record is logged
/// and counted, and the answer stands.
pub async fn audit(
    state: &AppState,
    admin: &Admin,
    parts: &Parts,
    action: &str,
    id: &str,
    details: Value,
) {
    let event = AuditEvent {
        actor_id: Some(admin.0.user.id),
        action,
        resource_type: "setting_definition",
        resource_id: Some(id.to_string()),
        details,
        ip_address: client_ip(parts).map(|ip| ip.to_string()),
    };
    state.core.audit().record_or_log(event).await;
}

/// A definition's view as JSON without its times, for the audit log.
pub fn as_json(view: &DefinitionView) -> Value {
    let mut v = serde_json::to_value(view).unwrap_or(Value::Null);
    if let Some(fields) = v.as_object_mut() {
        fields.remove("created_at");
        fields.remove("updated_at");
    }
    v
}

/// Replaces definition `def.id` and records what changed from `old`.
pub async fn replace_audited(
    state: &AppState,
    admin: &Admin,
    parts: &Parts,
    old: SettingDefinition,
    def: SettingDefinition,
) -> Answer<DefinitionView> {
    let id = def.id.clone();
    let old: DefinitionView = old.try_into()?;
    let saved: DefinitionView = state
        .core
        .settings()
        .replace_definition(def)
        .await?
        .try_into()?;
    let changes = json!({ "changes": changed_fields(&as_json(&old), &as_json(&saved)) });
    audit(
        state,
        admin,
        parts,
        "setting_definition.updated",
        &id,
        changes,
    )
    .await;
    Ok(Json(saved))
}
