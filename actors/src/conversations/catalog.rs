//! Personas and tags: small per-user records. Another user's is `NotFound`;
//! tag names are unique per user. Each user may keep a configured number of
//! each (`limits.max_personas_per_user`, `limits.max_tags_per_user`).

use uuid::Uuid;

use crate::conversations::ConvTables;
use crate::error::CoreError;
use crate::model::{CountLimits, Persona, Tag, limits, now_ms};
use crate::per_user::{Counted, UserCount, index_len, records_page};
use crate::store::{Store, StoreError, Table, Tx};

/// Every user's personas and tags, with their per-user caps. Cheap to clone.
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
    /// How many personas each user has, against `caps.personas`.
    persona_count: UserCount,
    /// How many tags each user has, against `caps.tags`.
    tag_count: UserCount,
    caps: CountLimits,
    conversations: ConvTables,
}

/// The stored fields of a persona within their caps; 422 naming the first that is not.
fn check_persona(p: &Persona) -> Result<(), CoreError> {
    limits::name("name", &p.name)?;
    limits::chars("description", p.description.as_deref(), limits::TEXT_CHARS)?;
    limits::prompt("system_prompt", p.system_prompt.as_deref())?;
    limits::chars("avatar", p.avatar.as_deref(), limits::URL_CHARS)?;
    limits::names("tags", &p.tags)?;
    limits::chars(
        "sample_greeting",
        p.sample_greeting.as_deref(),
        limits::TEXT_CHARS,
    )
}

fn check_tag(t: &Tag) -> Result<(), CoreError> {
    limits::name("name", &t.name)?;
    limits::chars("color", t.color.as_deref(), limits::NAME_CHARS)
}

impl Catalog {
    /// Opens the persona and tag tables; `caps` bounds how many each user may keep.
    pub fn open(
        store: Store,
        conversations: ConvTables,
        caps: CountLimits,
    ) -> Result<Self, CoreError> {
        Ok(Self {
            persona_count: UserCount::open(&store, Counted::Personas)?,
            tag_count: UserCount::open(&store, Counted::Tags)?,
            caps,
            personas: store.table("personas")?,
            personas_by_user: store.table("personas_by_user")?,
            tags: store.table("tags")?,
            tags_by_user: store.table("tags_by_user")?,
            tag_names: store.table("tag_names")?,
            conversations,
            store,
        })
    }

    /// Creates or replaces a persona (`persona.id` new for a create); a
    /// create past the user's cap is `LimitReached`.
    pub async fn save_persona(&self, mut persona: Persona) -> Result<Persona, CoreError> {
        check_persona(&persona)?;
        let user = persona.user_id;
        {
            let _guard = self.persona_count.lock(user);
            let count = match self.personas.get(&persona.id)? {
                Some(existing) if existing.user_id != user => {
                    return Err(CoreError::not_found("persona", persona.id));
                }
                Some(existing) => {
                    persona.created_at = existing.created_at;
                    None
                }
                None => Some(self.persona_count.check(user, self.caps.personas, || {
                    index_len(&self.personas_by_user, user)
                })?),
            };
            persona.updated_at = now_ms();
            let p = &persona;
            self.store.transaction_unflushed(
                &[
                    &self.personas,
                    &self.personas_by_user,
                    self.persona_count.table(),
                ],
                |tx| {
                    tx.insert(&self.personas, &p.id, p)?;
                    tx.insert(&self.personas_by_user, &(user, p.id), &())?;
                    match count {
                        Some(n) => self.persona_count.set_in(tx, user, n + 1),
                        None => Ok(()),
                    }
                },
            )?;
        }
        self.store.commit().await?;
        Ok(persona)
    }

    /// `user`'s persona `id`, or `NotFound`.
    pub fn persona(&self, user: Uuid, id: Uuid) -> Result<Persona, CoreError> {
        self.personas
            .get(&id)?
            .filter(|p| p.user_id == user)
            .ok_or_else(|| CoreError::not_found("persona", id))
    }

    /// Every one of the user's personas, newest first (at most the cap).
    pub fn personas(&self, user: Uuid) -> Result<Vec<Persona>, CoreError> {
        Ok(self.personas_page(user, 0, usize::MAX)?.0)
    }

    /// A page of the user's personas, newest first, and how many there are.
    /// Only the page's records are read.
    pub fn personas_page(
        &self,
        user: Uuid,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<Persona>, usize), CoreError> {
        records_page(&self.personas_by_user, &self.personas, user, skip, limit)
    }

    /// Deletes `user`'s persona `id`, freeing a place under the cap.
    pub async fn delete_persona(&self, user: Uuid, id: Uuid) -> Result<(), CoreError> {
        self.persona(user, id)?;
        {
            let _guard = self.persona_count.lock(user);
            self.store.transaction_unflushed(
                &[
                    &self.personas,
                    &self.personas_by_user,
                    self.persona_count.table(),
                ],
                |tx| {
                    if tx.get(&self.personas, &id)?.is_none() {
                        return Ok(());
                    }
                    tx.remove(&self.personas, &id)?;
                    tx.remove(&self.personas_by_user, &(user, id))?;
                    self.persona_count.decrement_in(tx, user)
                },
            )?;
        }
        self.store.commit().await?;
        Ok(())
    }

    /// Creates or renames a tag; 409 if the user has another tag of that
    /// name, `LimitReached` for a create past the user's cap.
    pub async fn save_tag(&self, mut tag: Tag) -> Result<Tag, CoreError> {
        check_tag(&tag)?;
        let user = tag.user_id;
        {
            let _guard = self.tag_count.lock(user);
            let old = self.tags.get(&tag.id)?;
            let count = match &old {
                Some(existing) if existing.user_id != user => {
                    return Err(CoreError::not_found("tag", tag.id));
                }
                Some(existing) => {
                    tag.created_at = existing.created_at;
                    None
                }
                None => Some(
                    self.tag_count
                        .check(user, self.caps.tags, || index_len(&self.tags_by_user, user))?,
                ),
            };
            let t = &tag;
            let key = (user, t.name.to_lowercase());
            self.store.transaction_unflushed(
                &[
                    &self.tags,
                    &self.tags_by_user,
                    &self.tag_names,
                    self.tag_count.table(),
                ],
                |tx| {
                    match tx.get(&self.tag_names, &key)? {
                        Some(other) if other != t.id => {
                            return Tx::abort(StoreError::Conflict(
                                "a tag with this name exists".into(),
                            ));
                        }
                        _ => {}
                    }
                    if let Some(old) = &old {
                        tx.remove(&self.tag_names, &(user, old.name.to_lowercase()))?;
                    }
                    tx.insert(&self.tag_names, &key, &t.id)?;
                    tx.insert(&self.tags, &t.id, t)?;
                    tx.insert(&self.tags_by_user, &(user, t.id), &())?;
                    match count {
                        Some(n) => self.tag_count.set_in(tx, user, n + 1),
                        None => Ok(()),
                    }
                },
            )?;
        }
        self.store.commit().await?;
        Ok(tag)
    }

    /// `user`'s tag `id`, or `NotFound`.
    pub fn tag(&self, user: Uuid, id: Uuid) -> Result<Tag, CoreError> {
        self.tags
            .get(&id)?
            .filter(|t| t.user_id == user)
            .ok_or_else(|| CoreError::not_found("tag", id))
    }

    /// A page of the user's tags, newest first (as every list), and how many there are.
    /// Only the page's records are read.
    pub fn tags_page(
        &self,
        user: Uuid,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<Tag>, usize), CoreError> {
        records_page(&self.tags_by_user, &self.tags, user, skip, limit)
    }

    /// Deletes `user`'s tag `id`, freeing its name and a place under the cap.
    pub async fn delete_tag(&self, user: Uuid, id: Uuid) -> Result<(), CoreError> {
        self.tag(user, id)?;
        {
            let _guard = self.tag_count.lock(user);
            self.store.transaction_unflushed(
                &[
                    &self.tags,
                    &self.tags_by_user,
                    &self.tag_names,
                    self.tag_count.table(),
                ],
                |tx| {
                    let Some(tag) = tx.get(&self.tags, &id)? else {
                        return Ok(());
                    };
                    tx.remove(&self.tags, &id)?;
                    tx.remove(&self.tags_by_user, &(user, id))?;
                    tx.remove(&self.tag_names, &(user, tag.name.to_lowercase()))?;
                    self.tag_count.decrement_in(tx, user)
                },
            )?;
        }
        self.store.commit().await?;
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
                .transaction_unflushed(&[&c.conversations], |tx| {
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
