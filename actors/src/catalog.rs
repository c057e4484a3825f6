//! Personas and tags: small per-user records. Another user's is `NotFound`;
//! tag names are unique per user.

use uuid::Uuid;

use crate::conversations::ConvTables;
use crate::error::CoreError;
use crate::model::{Persona, Tag, now_ms};
use crate::store::{Store, StoreError, Table, Tx};

#[derive(Clone)]
pub struct Catalog {
    store: Store,
    personas: Table<Uuid, Persona>,
    /// (user, persona id).
    personas_by_user: Table<(Uuid, Uuid), ()>,
    tags: Table<Uuid, Tag>,
    tags_by_user: Table<(Uuid, Uuid), ()>,
    /// (user, lower-cased name) -> tag id: the uniqueness index.
    tag_names: Table<(Uuid, String), Uuid>,
    conversations: ConvTables,
}

fn ids(index: &Table<(Uuid, Uuid), ()>, user: Uuid) -> Result<Vec<Uuid>, CoreError> {
    crate::accounts::Tables::ids_of(index, user)
}

fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), CoreError> {
    let n = value.chars().count();
    if n == 0 || n > max {
        return Err(CoreError::validation(field, format!("1-{max} characters")));
    }
    Ok(())
}

impl Catalog {
    pub fn open(store: Store, conversations: ConvTables) -> Result<Self, CoreError> {
        Ok(Self {
            personas: store.table("personas")?,
            personas_by_user: store.table("personas_by_user")?,
            tags: store.table("tags")?,
            tags_by_user: store.table("tags_by_user")?,
            tag_names: store.table("tag_names")?,
            conversations,
            store,
        })
    }

    /// Creates or replaces a persona (`persona.id` new for a create).
    pub async fn save_persona(&self, mut persona: Persona) -> Result<Persona, CoreError> {
        check_len("name", &persona.name, 100)?;
        if let Some(existing) = self.personas.get(&persona.id)? {
            if existing.user_id != persona.user_id {
                return Err(CoreError::not_found("persona", persona.id));
            }
            persona.created_at = existing.created_at;
        }
        persona.updated_at = now_ms();
        let p = persona.clone();
        self.store
            .transaction(&[&self.personas, &self.personas_by_user], |tx| {
                tx.insert(&self.personas, &p.id, &p)?;
                tx.insert(&self.personas_by_user, &(p.user_id, p.id), &())
            })
            .await?;
        Ok(persona)
    }

    pub fn persona(&self, user: Uuid, id: Uuid) -> Result<Persona, CoreError> {
        self.personas
            .get(&id)?
            .filter(|p| p.user_id == user)
            .ok_or_else(|| CoreError::not_found("persona", id))
    }

    /// The user's personas, newest first.
    pub fn personas(&self, user: Uuid) -> Result<Vec<Persona>, CoreError> {
        let mut out = Vec::new();
        for id in ids(&self.personas_by_user, user)?.into_iter().rev() {
            if let Some(p) = self.personas.get(&id)? {
                out.push(p);
            }
        }
        Ok(out)
    }

    pub async fn delete_persona(&self, user: Uuid, id: Uuid) -> Result<(), CoreError> {
        self.persona(user, id)?;
        self.store
            .transaction(&[&self.personas, &self.personas_by_user], |tx| {
                tx.remove(&self.personas, &id)?;
                tx.remove(&self.personas_by_user, &(user, id))
            })
            .await?;
        Ok(())
    }

    /// Creates or renames a tag; 409 if the user has another tag of that name.
    pub async fn save_tag(&self, mut tag: Tag) -> Result<Tag, CoreError> {
        check_len("name", &tag.name, 50)?;
        let old = self.tags.get(&tag.id)?;
        if let Some(existing) = &old {
            if existing.user_id != tag.user_id {
                return Err(CoreError::not_found("tag", tag.id));
            }
            tag.created_at = existing.created_at;
        }
        let t = tag.clone();
        let key = (t.user_id, t.name.to_lowercase());
        self.store
            .transaction(&[&self.tags, &self.tags_by_user, &self.tag_names], |tx| {
                match tx.get(&self.tag_names, &key)? {
                    Some(other) if other != t.id => {
                        return Tx::abort(StoreError::Conflict(
                            "a tag with this name exists".into(),
                        ));
                    }
                    _ => {}
                }
                if let Some(old) = &old {
                    tx.remove(&self.tag_names, &(old.user_id, old.name.to_lowercase()))?;
                }
                tx.insert(&self.tag_names, &key, &t.id)?;
                tx.insert(&self.tags, &t.id, &t)?;
                tx.insert(&self.tags_by_user, &(t.user_id, t.id), &())
            })
            .await?;
        Ok(tag)
    }

    pub fn tag(&self, user: Uuid, id: Uuid) -> Result<Tag, CoreError> {
        self.tags
            .get(&id)?
            .filter(|t| t.user_id == user)
            .ok_or_else(|| CoreError::not_found("tag", id))
    }

    /// The user's tags, oldest first.
    pub fn tags(&self, user: Uuid) -> Result<Vec<Tag>, CoreError> {
        ids(&self.tags_by_user, user)?
            .into_iter()
            .filter_map(|id| self.tags.get(&id).transpose())
            .map(|r| r.map_err(CoreError::from))
            .collect()
    }

    pub async fn delete_tag(&self, user: Uuid, id: Uuid) -> Result<(), CoreError> {
        let tag = self.tag(user, id)?;
        self.store
            .transaction(&[&self.tags, &self.tags_by_user, &self.tag_names], |tx| {
                tx.remove(&self.tags, &id)?;
                tx.remove(&self.tags_by_user, &(user, id))?;
                tx.remove(&self.tag_names, &(user, tag.name.to_lowercase()))
            })
            .await?;
        Ok(())
    }

    /// Adds (or removes) tag `tag_id` on conversation `conv_id`; both must be the user's.
    pub async fn tag_conversation(
        &self,
        user: Uuid,
        conv_id: Uuid,
        tag_id: Uuid,
        add: bool,
    ) -> Result<(), CoreError> {
        let c = &self.conversations;
        match c.conversations.get(&conv_id)? {
            Some(conv) if conv.user_id == user => {}
            _ => return Err(CoreError::not_found("conversation", conv_id)),
        }
        if add {
            self.tag(user, tag_id)?;
        }
        {
            // Every writer of a conversation record holds its lock (see ConvTables::append).
            let _guard = c.lock(&conv_id);
            self.store
                .transaction_unflushed(&[&c.conversations, &c.by_user], |tx| {
                    let Some(mut conv) = tx.get(&c.conversations, &conv_id)? else {
                        return Tx::abort(StoreError::Conflict("conversation was deleted".into()));
                    };
                    conv.tag_ids.retain(|t| *t != tag_id);
                    if add {
                        conv.tag_ids.push(tag_id);
                    }
                    tx.insert(&c.conversations, &conv_id, &conv)
                })?;
        }
        self.store.commit().await?;
        Ok(())
    }
}
