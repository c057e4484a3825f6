//! Two-tier settings (API.md 8): definitions admins write, values users
//! (and, for scope `system`, admins) set, and the effective value of a
//! setting for one user and page.
//!
//! Every value is checked against its definition's type and rules when it
//! is written; resolve checks again, so a value written under older rules
//! that no longer passes (or whose scope is no longer allowed) is skipped
//! for the next one down.

pub mod rules;
mod tables;

use serde_json::Value;
use uuid::Uuid;

use crate::error::CoreError;
use crate::model::{JsonText, Scope, SettingDefinition, SettingInstance, limits, now_ms};
pub use tables::InstanceFilter;
use tables::{SettingTables, instance_key};

/// Definitions and instances. Cheap to clone.
#[derive(Clone)]
pub struct Settings {
    tables: SettingTables,
    /// User- and page-scope instances one user may keep.
    cap: u64,
}

/// Who is asking: their id and whether they may write system values.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// The signed-in user.
    pub user_id: Uuid,
    /// Whether they hold the admin or superadmin role.
    pub is_admin: bool,
}

/// A value to set: what `POST /settings/instances` carries.
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// The definition it sets.
    pub definition_id: String,
    /// Where it applies.
    pub scope: Scope,
    /// The page, exactly when `scope` is `page`.
    pub page_id: Option<String>,
    /// The value.
    pub value: Value,
}

/// Where a resolved value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The caller's value for the page.
    Page,
    /// The caller's value.
    User,
    /// Everyone's value.
    System,
    /// The definition's default.
    Default,
}

impl Source {
    /// The name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Page => "page",
            Source::User => "user",
            Source::System => "system",
            Source::Default => "default",
        }
    }
}

fn check_definition(def: &SettingDefinition) -> Result<(), CoreError> {
    rules::check_id("id", &def.id)?;
    limits::name("name", &def.name)?;
    limits::chars(
        "description",
        def.description.as_deref(),
        limits::TEXT_CHARS,
    )?;
    limits::chars("category", def.category.as_deref(), limits::NAME_CHARS)?;
    rules::check_scopes(&def.allowed_scopes)?;
    rules::check_rules(def.value_type, &def.rules)?;
    rules::check_value(
        "default_value",
        &def.default_value.parse()?,
        def.value_type,
        &def.rules,
    )
}

fn passes(def: &SettingDefinition, inst: &SettingInstance) -> bool {
    def.allowed_scopes.contains(&inst.scope)
        && inst
            .value
            .parse()
            .is_ok_and(|v| rules::check_value("value", &v, def.value_type, &def.rules).is_ok())
}

impl Settings {
    /// Opens the settings' tables; `cap` bounds each user's instances.
    pub fn open(store: crate::store::Store, cap: u64) -> Result<Self, CoreError> {
        Ok(Self {
            tables: SettingTables::open(store)?,
            cap,
        })
    }

    /// Creates a definition (409 if the id is taken); 422 naming the field
    /// or rule at fault, the default's own rules included.
    pub async fn create_definition(
        &self,
        mut def: SettingDefinition,
    ) -> Result<SettingDefinition, CoreError> {
        check_definition(&def)?;
        if self.tables.definition(&def.id)?.is_some() {
            return Err(CoreError::Conflict(
                "a setting definition with this id exists".into(),
            ));
        }
        // Values left by a delete that a crash interrupted are not this definition's.
        self.tables.remove_instances_of(&def.id)?;
        let now = now_ms();
        (def.created_at, def.updated_at) = (now, now);
        self.tables.put_definition(&def, true).await?;
        Ok(def)
    }

    /// Replaces definition `def.id` (404 if there is none), keeping its
    /// creation time. Values set under the old rules stay stored.
    pub async fn replace_definition(
        &self,
        mut def: SettingDefinition,
    ) -> Result<SettingDefinition, CoreError> {
        let old = self.definition(&def.id)?;
        check_definition(&def)?;
        def.created_at = old.created_at;
        def.updated_at = now_ms();
        self.tables.put_definition(&def, false).await?;
        Ok(def)
    }

    /// Definition `id`, or 404.
    pub fn definition(&self, id: &str) -> Result<SettingDefinition, CoreError> {
        self.tables
            .definition(id)?
            .ok_or_else(|| CoreError::not_found("setting definition", id))
    }

    /// A page of the definitions, in id order, and how many there are.
    pub fn definitions_page(
        &self,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<SettingDefinition>, usize), CoreError> {
        self.tables.definitions_page(skip, limit)
    }

    /// Deletes definition `id` and every value set for it; 404 if there is none.
    pub async fn delete_definition(&self, id: &str) -> Result<(), CoreError> {
        if !self.tables.delete_definition(id).await? {
            return Err(CoreError::not_found("setting definition", id));
        }
        Ok(())
    }

    /// Sets a value: creates the caller's instance for (definition, scope,
    /// page), or replaces its value if it exists. Answers it and whether it
    /// was created. Scope `system` needs an admin (403).
    pub async fn set(
        &self,
        caller: Caller,
        new: NewInstance,
    ) -> Result<(SettingInstance, bool), CoreError> {
        if new.scope == Scope::System && !caller.is_admin {
            return Err(CoreError::Forbidden(
                "system values are set by admins only".into(),
            ));
        }
        rules::check_id("definition_id", &new.definition_id)?;
        let def = self
            .tables
            .definition(&new.definition_id)?
            .ok_or_else(|| CoreError::not_found("setting definition", &new.definition_id))?;
        if !def.allowed_scopes.contains(&new.scope) {
            let allowed: Vec<&str> = def.allowed_scopes.iter().map(|s| s.as_str()).collect();
            return Err(rules::failed(
                "scope",
                "allowed_scopes",
                Some(serde_json::json!(allowed)),
                "not a scope this setting allows",
            ));
        }
        match (&new.page_id, new.scope) {
            (Some(page), Scope::Page) => rules::check_page_id("page_id", page)?,
            (None, Scope::Page) => {
                return Err(CoreError::validation("page_id", "required for scope page"));
            }
            (Some(_), _) => {
                return Err(CoreError::validation("page_id", "only for scope page"));
            }
            (None, _) => {}
        }
        rules::check_value("value", &new.value, def.value_type, &def.rules)?;
        let (owner, cap) = match new.scope {
            Scope::System => (Uuid::nil(), None),
            _ => (caller.user_id, Some(self.cap)),
        };
        let now = now_ms();
        let inst = SettingInstance {
            id: Uuid::now_v7(),
            user_id: owner,
            definition_id: new.definition_id,
            scope: new.scope,
            page_id: new.page_id,
            value: JsonText::from_value(&new.value),
            created_at: now,
            updated_at: now,
        };
        self.tables.upsert_instance(inst, cap).await
    }

    /// Instance `id` if the caller may read it (theirs, or a system one); else 404.
    pub fn instance(&self, caller: Caller, id: Uuid) -> Result<SettingInstance, CoreError> {
        self.tables
            .instance(id)?
            .filter(|i| i.user_id == caller.user_id || i.user_id.is_nil())
            .ok_or_else(|| CoreError::not_found("setting instance", id))
    }

    /// Instance `id` if the caller may change it: theirs, or a system one
    /// for an admin (403 for anyone else).
    fn writable(&self, caller: Caller, id: Uuid) -> Result<SettingInstance, CoreError> {
        let inst = self.instance(caller, id)?;
        if inst.user_id.is_nil() && !caller.is_admin {
            return Err(CoreError::Forbidden(
                "system values are changed by admins only".into(),
            ));
        }
        Ok(inst)
    }

    /// The instances that apply to the caller (theirs and the system's)
    /// passing `filter`, newest first, and how many there are.
    pub fn instances_page(
        &self,
        caller: Caller,
        filter: &InstanceFilter,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<SettingInstance>, usize), CoreError> {
        if let Some(id) = &filter.definition_id {
            rules::check_id("definition_id", id)?;
        }
        let mut ids = Vec::new();
        if filter.scope != Some(Scope::System) {
            ids.extend(self.tables.instance_ids(caller.user_id, filter)?);
        }
        if matches!(filter.scope, None | Some(Scope::System)) {
            ids.extend(self.tables.instance_ids(Uuid::nil(), filter)?);
        }
        ids.sort_unstable_by(|a, b| b.cmp(a));
        let total = ids.len();
        let mut page = Vec::new();
        for id in ids.into_iter().skip(skip).take(limit) {
            if let Some(inst) = self.tables.instance(id)? {
                page.push(inst);
            }
        }
        Ok((page, total))
    }

    /// Replaces the value of instance `id`, checked against its definition.
    pub async fn update(
        &self,
        caller: Caller,
        id: Uuid,
        value: Value,
    ) -> Result<SettingInstance, CoreError> {
        let mut inst = self.writable(caller, id)?;
        let def = self.definition(&inst.definition_id)?;
        rules::check_value("value", &value, def.value_type, &def.rules)?;
        inst.value = JsonText::from_value(&value);
        inst.updated_at = now_ms();
        self.tables.update_instance(&inst).await?;
        Ok(inst)
    }

    /// Deletes instance `id`.
    pub async fn delete(&self, caller: Caller, id: Uuid) -> Result<(), CoreError> {
        let inst = self.writable(caller, id)?;
        if !self.tables.delete_instance(inst.user_id, id).await? {
            return Err(CoreError::not_found("setting instance", id));
        }
        Ok(())
    }

    /// The effective value of `definition_id` for the caller on `page_id`:
    /// their page value over their user value over the system value over
    /// the default. 404 for an unknown definition.
    pub fn resolve(
        &self,
        caller: Caller,
        definition_id: &str,
        page_id: Option<&str>,
    ) -> Result<(Value, Source), CoreError> {
        let def = self.definition(definition_id)?;
        if let Some(page) = page_id {
            rules::check_page_id("page_id", page)?;
        }
        let candidates = [
            (caller.user_id, Scope::Page, page_id, Source::Page),
            (caller.user_id, Scope::User, None, Source::User),
            (Uuid::nil(), Scope::System, None, Source::System),
        ];
        for (owner, scope, page, source) in candidates {
            if scope == Scope::Page && page.is_none() {
                continue;
            }
            let key = instance_key(definition_id, scope, page);
            if let Some(inst) = self.tables.instance_at(owner, &key)?
                && passes(&def, &inst)
            {
                return Ok((inst.value.parse()?, source));
            }
        }
        Ok((def.default_value.parse()?, Source::Default))
    }
}
