//! Projects (API.md 8): a user's named groups of conversations and
//! documents. Deleting one is soft: the record keeps `deleted_at` and is
//! gone from every read (404), its place under the cap is freed, and its
//! channel refuses subscribers. Every change is published to
//! `project:{id}` as a channel message ([`ProjectEvent`]). This file is the
//! only one that touches the project tables.

use serde_json::json;
use uuid::Uuid;

use crate::channels::{ChannelName, Channels};
use crate::error::CoreError;
use crate::model::{Project, limits, now_ms};
use crate::per_user::{Counted, UserCount, index_len, index_page, records_page};
use crate::store::{Store, StoreError, Table, Tx};

/// A change of a project, as published to `project:{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectEvent {
    /// The project was created.
    Created,
    /// Its name or description changed.
    Updated,
    /// It was deleted.
    Deleted,
    /// A conversation (this id) was created in it or moved to it.
    ConversationAdded(Uuid),
    /// A document (this id) was uploaded to it.
    DocumentAdded(Uuid),
}

impl ProjectEvent {
    /// The `type` of the channel message.
    pub fn name(self) -> &'static str {
        match self {
            ProjectEvent::Created => "project.created",
            ProjectEvent::Updated => "project.updated",
            ProjectEvent::Deleted => "project.deleted",
            ProjectEvent::ConversationAdded(_) => "conversation.added",
            ProjectEvent::DocumentAdded(_) => "document.added",
        }
    }

    /// The channel message's `data`: `{"type", "project_id", "resource", "id"}`,
    /// where `resource` is `project`, `conversation` or `document` and `id` its id.
    fn data(self, project: Uuid) -> serde_json::Value {
        let (resource, id) = match self {
            ProjectEvent::Created | ProjectEvent::Updated | ProjectEvent::Deleted => {
                ("project", project)
            }
            ProjectEvent::ConversationAdded(id) => ("conversation", id),
            ProjectEvent::DocumentAdded(id) => ("document", id),
        };
        json!({ "type": self.name(), "project_id": project, "resource": resource, "id": id })
    }
}

/// A partial update: `None` leaves a field, `Some(None)` clears the description.
#[derive(Debug, Clone, Default)]
pub struct ProjectPatch {
    /// A new name, 1-255 characters.
    pub name: Option<String>,
    /// A new description (at most 2,000 characters), or `Some(None)` for none.
    pub description: Option<Option<String>>,
}

/// Every user's projects. Cheap to clone.
#[derive(Clone)]
pub struct Projects {
    store: Store,
    /// Every project ever made, deleted ones included (with `deleted_at`).
    projects: Table<Uuid, Project>,
    /// (user, project id) of live projects only: lists and counts read it.
    by_user: Table<(Uuid, Uuid), ()>,
    /// How many live projects each user has, against `max`.
    count: UserCount,
    max: u64,
    channels: Channels,
}

fn check(name: &str, description: Option<&str>) -> Result<(), CoreError> {
    limits::name("name", name)?;
    limits::chars("description", description, limits::TEXT_CHARS)
}

impl Projects {
    /// Opens the project tables; each user may keep `max` live projects.
    pub fn open(store: Store, channels: Channels, max: u64) -> Result<Self, CoreError> {
        Ok(Self {
            projects: store.table("projects")?,
            by_user: store.table("projects_by_user")?,
            count: UserCount::open(&store, Counted::Projects)?,
            max,
            channels,
            store,
        })
    }

    /// Creates a project; past the user's cap it is `LimitReached`.
    pub async fn create(
        &self,
        user: Uuid,
        name: String,
        description: Option<String>,
    ) -> Result<Project, CoreError> {
        check(&name, description.as_deref())?;
        let now = now_ms();
        let project = Project {
            id: Uuid::now_v7(),
            user_id: user,
            name,
            description,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        {
            let _guard = self.count.lock(user);
            let n = self
                .count
                .check(user, self.max, || index_len(&self.by_user, user))?;
            let p = &project;
            self.store.transaction_unflushed(
                &[&self.projects, &self.by_user, self.count.table()],
                |tx| {
                    tx.insert(&self.projects, &p.id, p)?;
                    tx.insert(&self.by_user, &(user, p.id), &())?;
                    self.count.set_in(tx, user, n + 1)
                },
            )?;
        }
        self.store.commit().await?;
        self.announce(project.id, ProjectEvent::Created);
        Ok(project)
    }

    /// `user`'s live project `id`, or `NotFound` (also once it is deleted).
    pub fn get(&self, user: Uuid, id: Uuid) -> Result<Project, CoreError> {
        self.projects
            .get(&id)?
            .filter(|p| p.user_id == user && p.deleted_at.is_none())
            .ok_or_else(|| CoreError::not_found("project", id))
    }

    /// Whether `user` may attach a record to project `id`: 422 naming
    /// `project_id` unless it is one of their live projects.
    pub fn require_live(&self, user: Uuid, id: Uuid) -> Result<(), CoreError> {
        match self.get(user, id) {
            Ok(_) => Ok(()),
            Err(CoreError::NotFound { .. }) => Err(CoreError::validation(
                "project_id",
                "no such project of yours",
            )),
            Err(e) => Err(e),
        }
    }

    /// Whether `project:{id}` is open to `user`: they own it and it is live.
    pub fn owns_live(&self, user: Uuid, id: Uuid) -> bool {
        self.get(user, id).is_ok()
    }

    /// A page of `user`'s live projects, newest first, and how many match;
    /// `search` matches the name, case-insensitive (empty matches all).
    pub fn list(
        &self,
        user: Uuid,
        search: Option<&str>,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<Project>, usize), CoreError> {
        let needle = search.map(str::to_lowercase).filter(|s| !s.is_empty());
        let Some(needle) = needle else {
            return records_page(&self.by_user, &self.projects, user, skip, limit);
        };
        let (ids, _) = index_page(&self.by_user, user, 0, usize::MAX, true)?;
        let (mut items, mut total) = (Vec::new(), 0);
        for id in ids {
            let Some(p) = self.projects.get(&id)? else {
                continue;
            };
            if p.name.to_lowercase().contains(&needle) {
                if total >= skip && items.len() < limit {
                    items.push(p);
                }
                total += 1;
            }
        }
        Ok((items, total))
    }

    /// Applies `patch` to `user`'s live project `id`.
    pub async fn update(
        &self,
        user: Uuid,
        id: Uuid,
        patch: ProjectPatch,
    ) -> Result<Project, CoreError> {
        let current = self.get(user, id)?;
        let name = patch.name.unwrap_or(current.name);
        let description = patch.description.unwrap_or(current.description);
        check(&name, description.as_deref())?;
        let updated = {
            // Every writer of a user's projects holds this lock.
            let _guard = self.count.lock(user);
            self.store.transaction_unflushed(&[&self.projects], |tx| {
                let Some(mut p) = tx.get(&self.projects, &id)? else {
                    return Tx::abort(StoreError::Conflict("project is gone".into()));
                };
                if p.deleted_at.is_some() {
                    return Tx::abort(StoreError::Conflict("project was deleted".into()));
                }
                p.name = name.clone();
                p.description = description.clone();
                p.updated_at = now_ms();
                tx.insert(&self.projects, &id, &p)?;
                Ok(p)
            })
        };
        let updated = match updated {
            Ok(p) => p,
            Err(StoreError::Conflict(_)) => return Err(CoreError::not_found("project", id)),
            Err(e) => return Err(e.into()),
        };
        self.store.commit().await?;
        self.announce(id, ProjectEvent::Updated);
        Ok(updated)
    }

    /// Soft-deletes `user`'s live project `id`: `deleted_at` is set, and it
    /// leaves the lists and the cap. Its conversations and documents stay
    /// (still showing its id).
    pub async fn delete(&self, user: Uuid, id: Uuid) -> Result<(), CoreError> {
        self.get(user, id)?;
        let deleted = {
            let _guard = self.count.lock(user);
            self.store.transaction_unflushed(
                &[&self.projects, &self.by_user, self.count.table()],
                |tx| {
                    let Some(mut p) = tx.get(&self.projects, &id)? else {
                        return Ok(false);
                    };
                    if p.deleted_at.is_some() {
                        return Ok(false);
                    }
                    let now = now_ms();
                    p.deleted_at = Some(now);
                    p.updated_at = now;
                    tx.insert(&self.projects, &id, &p)?;
                    tx.remove(&self.by_user, &(user, id))?;
                    self.count.decrement_in(tx, user)?;
                    Ok(true)
                },
            )?
        };
        if !deleted {
            return Err(CoreError::not_found("project", id));
        }
        self.store.commit().await?;
        self.announce(id, ProjectEvent::Deleted);
        Ok(())
    }

    /// Publishes `event` to `project:{project}` (from the server: no sender).
    pub fn announce(&self, project: Uuid, event: ProjectEvent) {
        self.channels
            .publish(&ChannelName::project(project), None, &event.data(project));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_names_its_type_and_resource() {
        let (p, c) = (Uuid::now_v7(), Uuid::now_v7());
        let data = ProjectEvent::ConversationAdded(c).data(p);
        assert_eq!(data["type"], "conversation.added");
        assert_eq!(data["resource"], "conversation");
        assert_eq!(data["id"], c.to_string());
        assert_eq!(data["project_id"], p.to_string());
        let data = ProjectEvent::Deleted.data(p);
        assert_eq!(
            (data["type"].as_str(), data["id"].as_str()),
            (Some("project.deleted"), Some(p.to_string().as_str()))
        );
    }
}
