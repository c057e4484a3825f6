//! The settings' store operations: the only code that touches their tables.
//!
//! - `setting_definitions`: id -> definition (listed in id order);
//! - `setting_instances`: instance id -> instance;
//! - `setting_instance_keys`: (owner, "definition\0scope\0page") -> instance
//!   id: one instance per owner, definition, scope and page; the lookups of
//!   resolve and the lists read it (keys and ids only);
//! - `setting_instances_by_definition`: ("definition\0", instance id) ->
//!   owner, what a definition's delete removes.
//!
//! System instances belong to the nil owner. Creates and deletes of an
//! owner's instances hold the owner's lock of the per-user count.

use uuid::Uuid;

use crate::error::CoreError;
use crate::model::{Scope, SettingDefinition, SettingInstance};
use crate::per_user::{Counted, UserCount, id_at};
use crate::store::{Store, StoreError, Table, Tx};

/// The settings' tables. Cheap to clone.
#[derive(Clone)]
pub struct SettingTables {
    store: Store,
    definitions: Table<String, SettingDefinition>,
    instances: Table<Uuid, SettingInstance>,
    keys: Table<(Uuid, String), Uuid>,
    by_definition: Table<(String, Uuid), Uuid>,
    /// Instances per owner, against the cap.
    count: UserCount,
}

/// The unique key of an instance within its owner's.
pub fn instance_key(definition: &str, scope: Scope, page: Option<&str>) -> String {
    format!("{definition}\0{}\0{}", scope.as_str(), page.unwrap_or(""))
}

fn definition_prefix(definition: &str) -> String {
    format!("{definition}\0")
}

/// What a list asks for.
#[derive(Debug, Clone, Default)]
pub struct InstanceFilter {
    /// Only instances of this definition.
    pub definition_id: Option<String>,
    /// Only instances of this scope.
    pub scope: Option<Scope>,
}

impl SettingTables {
    /// Opens the tables.
    pub fn open(store: Store) -> Result<Self, CoreError> {
        Ok(Self {
            definitions: store.table("setting_definitions")?,
            instances: store.table("setting_instances")?,
            keys: store.table("setting_instance_keys")?,
            by_definition: store.table("setting_instances_by_definition")?,
            count: UserCount::open(&store, Counted::SettingInstances)?,
            store,
        })
    }

    /// The definition `id`, if any.
    pub fn definition(&self, id: &str) -> Result<Option<SettingDefinition>, CoreError> {
        Ok(self.definitions.get(&id.to_string())?)
    }

    /// Definitions `skip..skip + limit` in id order, and how many there are.
    pub fn definitions_page(
        &self,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<SettingDefinition>, usize), CoreError> {
        let mut page = Vec::new();
        let mut total = 0;
        for key in self.definitions.keys_with_prefix("") {
            let key = key?;
            if total >= skip && page.len() < limit {
                let id = String::from_utf8(key)
                    .map_err(|_| CoreError::Internal("bad definition key".into()))?;
                if let Some(d) = self.definition(&id)? {
                    page.push(d);
                }
            }
            total += 1;
        }
        Ok((page, total))
    }

    /// Writes `def`: a create (409 if the id is taken) or a replace (404 if gone).
    pub async fn put_definition(
        &self,
        def: &SettingDefinition,
        create: bool,
    ) -> Result<(), CoreError> {
        self.store
            .transaction_unflushed(&[&self.definitions], |tx| {
                match (tx.get(&self.definitions, &def.id)?.is_some(), create) {
                    (true, true) => Tx::abort(StoreError::Conflict(
                        "a setting definition with this id exists".into(),
                    )),
                    (false, false) => Tx::abort(StoreError::Conflict("gone".into())),
                    _ => tx.insert(&self.definitions, &def.id, def),
                }
            })
            .map_err(|e| match e {
                StoreError::Conflict(m) if m == "gone" => {
                    CoreError::not_found("setting definition", &def.id)
                }
                other => other.into(),
            })?;
        self.store.commit().await?;
        Ok(())
    }

    /// Removes definition `id` (false if there was none), then every instance of it.
    pub async fn delete_definition(&self, id: &str) -> Result<bool, CoreError> {
        let key = id.to_string();
        let existed = self
            .store
            .transaction_unflushed(&[&self.definitions], |tx| {
                let existed = tx.get(&self.definitions, &key)?.is_some();
                tx.remove(&self.definitions, &key)?;
                Ok(existed)
            })?;
        if existed {
            self.remove_instances_of(id)?;
        }
        self.store.commit().await?;
        Ok(existed)
    }

    /// Removes every instance of definition `id` (unflushed): after its
    /// delete, or left over by a delete a crash interrupted.
    pub fn remove_instances_of(&self, id: &str) -> Result<usize, CoreError> {
        let prefix = definition_prefix(id);
        let mut removed = 0;
        for entry in self.by_definition.scan_prefix(&prefix) {
            let (key, owner) = entry?;
            let instance = id_at(&key, prefix.len())?;
            if self.remove_instance(owner, instance)? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The instance `id`, if any.
    pub fn instance(&self, id: Uuid) -> Result<Option<SettingInstance>, CoreError> {
        Ok(self.instances.get(&id)?)
    }

    /// The instance of `owner` under `key` ([`instance_key`]), if any.
    pub fn instance_at(
        &self,
        owner: Uuid,
        key: &str,
    ) -> Result<Option<SettingInstance>, CoreError> {
        match self.keys.get(&(owner, key.to_string()))? {
            Some(id) => self.instance(id),
            None => Ok(None),
        }
    }

    /// Writes `inst` (created if its key is new, else its value replaced)
    /// while its definition exists; `cap` bounds the owner's creates.
    /// Answers the stored instance and whether it was created.
    pub async fn upsert_instance(
        &self,
        mut inst: SettingInstance,
        cap: Option<u64>,
    ) -> Result<(SettingInstance, bool), CoreError> {
        let owner = inst.user_id;
        let key = (
            owner,
            instance_key(&inst.definition_id, inst.scope, inst.page_id.as_deref()),
        );
        let created = {
            let _guard = self.count.lock(owner);
            let existing = match self.keys.get(&key)? {
                Some(id) => self.instances.get(&id)?,
                None => None,
            };
            let count = match (&existing, cap) {
                (Some(old), _) => {
                    inst.id = old.id;
                    inst.created_at = old.created_at;
                    None
                }
                (None, Some(max)) => Some(self.count.check(owner, max, || self.owned(owner))?),
                (None, None) => Some(self.count.stored(owner)?.unwrap_or(0)),
            };
            let i = &inst;
            let def_key = i.definition_id.clone();
            self.store
                .transaction_unflushed(
                    &[
                        &self.definitions,
                        &self.instances,
                        &self.keys,
                        &self.by_definition,
                        self.count.table(),
                    ],
                    |tx| {
                        if tx.get(&self.definitions, &def_key)?.is_none() {
                            return Tx::abort(StoreError::Conflict("definition gone".into()));
                        }
                        tx.insert(&self.instances, &i.id, i)?;
                        if let Some(n) = count {
                            tx.insert(&self.keys, &key, &i.id)?;
                            let by_def = (definition_prefix(&i.definition_id), i.id);
                            tx.insert(&self.by_definition, &by_def, &owner)?;
                            self.count.set_in(tx, owner, n + 1)?;
                        }
                        Ok(())
                    },
                )
                .map_err(|e| match e {
                    StoreError::Conflict(_) => CoreError::not_found("setting definition", &def_key),
                    other => other.into(),
                })?;
            existing.is_none()
        };
        self.store.commit().await?;
        Ok((inst, created))
    }

    fn owned(&self, owner: Uuid) -> Result<u64, CoreError> {
        crate::per_user::index_len(&self.keys, owner)
    }

    /// Replaces the value of an existing instance (404 if it is gone).
    pub async fn update_instance(&self, inst: &SettingInstance) -> Result<(), CoreError> {
        self.store
            .transaction_unflushed(&[&self.instances], |tx| {
                if tx.get(&self.instances, &inst.id)?.is_none() {
                    return Tx::abort(StoreError::Conflict("gone".into()));
                }
                tx.insert(&self.instances, &inst.id, inst)
            })
            .map_err(|e| match e {
                StoreError::Conflict(_) => CoreError::not_found("setting instance", inst.id),
                other => other.into(),
            })?;
        self.store.commit().await?;
        Ok(())
    }

    /// Deletes instance `id` of `owner` and commits; false if it was gone.
    pub async fn delete_instance(&self, owner: Uuid, id: Uuid) -> Result<bool, CoreError> {
        let removed = self.remove_instance(owner, id)?;
        self.store.commit().await?;
        Ok(removed)
    }

    /// Removes one instance with its index entries (unflushed), under its owner's lock.
    fn remove_instance(&self, owner: Uuid, id: Uuid) -> Result<bool, CoreError> {
        let _guard = self.count.lock(owner);
        Ok(self.store.transaction_unflushed(
            &[
                &self.instances,
                &self.keys,
                &self.by_definition,
                self.count.table(),
            ],
            |tx| {
                let Some(inst) = tx.get(&self.instances, &id)? else {
                    return Ok(false);
                };
                let key = instance_key(&inst.definition_id, inst.scope, inst.page_id.as_deref());
                tx.remove(&self.instances, &id)?;
                tx.remove(&self.keys, &(owner, key))?;
                tx.remove(
                    &self.by_definition,
                    &(definition_prefix(&inst.definition_id), id),
                )?;
                self.count.decrement_in(tx, owner)?;
                Ok(true)
            },
        )?)
    }

    /// The ids of `owner`'s instances that pass `filter`, read from the
    /// unique keys alone (no instance is decoded).
    pub fn instance_ids(
        &self,
        owner: Uuid,
        filter: &InstanceFilter,
    ) -> Result<Vec<Uuid>, CoreError> {
        let prefix = match (&filter.definition_id, filter.scope) {
            (Some(d), Some(s)) => format!("{d}\0{}\0", s.as_str()),
            (Some(d), None) => definition_prefix(d),
            (None, _) => String::new(),
        };
        let scope = filter.scope.map(|s| format!("\0{}\0", s.as_str()));
        let mut ids = Vec::new();
        for entry in self.keys.scan_prefix(&(owner, prefix)) {
            let (key, id) = entry?;
            let rest = key.get(16..).unwrap_or_default();
            let wanted = match &scope {
                Some(s) => String::from_utf8_lossy(rest).contains(s.as_str()),
                None => true,
            };
            if wanted {
                ids.push(id);
            }
        }
        Ok(ids)
    }
}
