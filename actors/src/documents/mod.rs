//! Documents (API.md 7): uploaded text, split into chunks by a
//! `document.ingest` job, indexed for full-text search (tantivy), and
//! retrieved into the system prompt of conversations that name them.

mod chunk;
mod from_file;
mod index;
mod segments;

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Value, json};
use uuid::Uuid;

pub use chunk::chunk;
use index::SearchIndex;

use crate::error::CoreError;
use crate::jobs::{JobCtx, JobHandler, Jobs, NewJob};
use crate::model::{Document, DocumentStatus, Job, limits, now_ms};
use crate::per_user::{Counted, UserCount, index_len, records_page};
use crate::projects::{ProjectEvent, Projects};
use crate::store::{KeyLocks, Store, Table};

/// How documents are chunked, indexed and capped (`[documents]` in the configuration).
#[derive(Debug, Clone)]
pub struct DocumentsConfig {
    /// Target chunk length in characters (default 1,500).
    pub chunk_chars: usize,
    /// Characters a chunk repeats from the end of the one before it (default 200).
    pub chunk_overlap: usize,
    /// Where the search index lives.
    pub index_dir: PathBuf,
    /// Documents one user may keep (`limits.max_documents_per_user`).
    pub max_per_user: u64,
}

/// The longest search text accepted.
pub const MAX_QUERY_CHARS: usize = 256;

/// One search result.
#[derive(Debug, Clone)]
pub struct SearchHit {
    /// The document the chunk belongs to (always one of the searching user's).
    pub document_id: Uuid,
    /// The chunk's 0-based position in its document.
    pub chunk: u32,
    /// The chunk's text.
    pub text: String,
    /// Relevance as the full-text index scores it; higher is better, within one search.
    pub score: f32,
}

/// Every user's documents. Cheap to clone.
#[derive(Clone)]
pub struct Documents {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    docs: Table<Uuid, Document>,
    /// (user id, document id v7) -> document id.
    by_user: Table<(Uuid, Uuid), Uuid>,
    /// The uploaded text, kept for (re-)ingestion.
    texts: Table<Uuid, String>,
    /// (document id, chunk index) -> chunk text.
    chunks: Table<(Uuid, u32), String>,
    /// How many documents each user has, against `config.max_per_user`.
    count: UserCount,
    index: SearchIndex,
    config: DocumentsConfig,
    /// Serializes an ingestion's writes with a delete of the same document,
    /// so a delete during ingestion is never undone by it.
    locks: KeyLocks,
    /// Document id -> the uploaded file its text is read from (documents
    /// made with `{"file_id"}`; the others keep their text in `texts`).
    sources: Table<Uuid, Uuid>,
    /// The files documents may be made from (set once by the core).
    files: std::sync::OnceLock<crate::files::Files>,
}

impl Documents {
    /// Opens the document tables and the search index in `config.index_dir`.
    pub fn open(store: Store, config: DocumentsConfig) -> Result<Self, CoreError> {
        Ok(Self {
            inner: Arc::new(Inner {
                docs: store.table("documents")?,
                by_user: store.table("documents_by_user")?,
                texts: store.table("document_texts")?,
                chunks: store.table("document_chunks")?,
                count: UserCount::open(&store, Counted::Documents)?,
                index: SearchIndex::open(&config.index_dir)?,
                sources: store.table("document_sources")?,
                store,
                config,
                locks: KeyLocks::default(),
                files: Default::default(),
            }),
        })
    }

    /// Stores a document and queues its ingestion; answers both.
    pub async fn submit(
        &self,
        jobs: &Jobs,
        user_id: Uuid,
        title: &str,
        text: String,
    ) -> Result<(Document, Job), CoreError> {
        self.submit_from(jobs, user_id, title, Source::Text(text), None)
            .await
    }

    /// [`Documents::submit`] into one of the user's live projects (422
    /// naming `project_id` otherwise), which is told `document.added`.
    pub async fn submit_to_project(
        &self,
        jobs: &Jobs,
        projects: &Projects,
        user_id: Uuid,
        title: &str,
        text: String,
        project_id: Option<Uuid>,
    ) -> Result<(Document, Job), CoreError> {
        let Some(project) = project_id else {
            return self.submit(jobs, user_id, title, text).await;
        };
        projects.require_live(user_id, project)?;
        let submitted = self
            .submit_from(jobs, user_id, title, Source::Text(text), Some(project))
            .await?;
        projects.announce(project, ProjectEvent::DocumentAdded(submitted.0.id));
        Ok(submitted)
    }

    async fn submit_from(
        &self,
        jobs: &Jobs,
        user_id: Uuid,
        title: &str,
        source: Source,
        project_id: Option<Uuid>,
    ) -> Result<(Document, Job), CoreError> {
        let title = title.trim();
        limits::name("title", title)?;
        let inner = &self.inner;
        let mut doc = Document {
            id: Uuid::now_v7(),
            user_id,
            title: title.to_string(),
            status: DocumentStatus::Processing,
            size_bytes: source.size(),
            chunk_count: 0,
            error: None,
            job_id: None,
            created_at: now_ms(),
            project_id,
        };
        match &source {
            Source::Text(text) => inner.texts.insert(&doc.id, text)?,
            Source::File { id, .. } => inner.sources.insert(&doc.id, id)?,
        }
        {
            let _guard = inner.count.lock(user_id);
            let n = inner.count.check(user_id, inner.config.max_per_user, || {
                index_len(&inner.by_user, user_id)
            })?;
            inner.store.transaction_unflushed(
                &[&inner.docs, &inner.by_user, inner.count.table()],
                |tx| {
                    tx.insert(&inner.docs, &doc.id, &doc)?;
                    tx.insert(&inner.by_user, &(user_id, doc.id), &doc.id)?;
                    inner.count.set_in(tx, user_id, n + 1)
                },
            )?;
        }
        let ingest = NewJob {
            job_type: "document.ingest".into(),
            payload: json!({ "document_id": doc.id }),
            priority: 5,
            scheduled_for: None,
            idempotency_key: None,
            max_attempts: 3,
        };
        // Creating the job commits the document with it; a job refused (the
        // user's job cap) takes the document back out.
        let (job, _) = match jobs.create(user_id, ingest).await {
            Ok(created) => created,
            Err(e) => {
                inner.by_user.remove(&(user_id, doc.id))?;
                inner.docs.remove(&doc.id)?;
                inner.texts.remove(&doc.id)?;
                inner.sources.remove(&doc.id)?;
                return Err(e);
            }
        };
        doc.job_id = Some(job.id);
        inner.docs.insert(&doc.id, &doc)?;
        Ok((doc, job))
    }

    /// `user_id`'s document `id`, or `NotFound`.
    pub fn get(&self, user_id: Uuid, id: Uuid) -> Result<Document, CoreError> {
        match self.inner.docs.get(&id)? {
            Some(doc) if doc.user_id == user_id => Ok(doc),
            _ => Err(CoreError::not_found("document", id)),
        }
    }

    /// A page of `user_id`'s documents, newest first, and how many there are.
    pub fn list(
        &self,
        user_id: Uuid,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<Document>, usize), CoreError> {
        records_page(&self.inner.by_user, &self.inner.docs, user_id, skip, limit)
    }

    /// [`Documents::list`] of the documents in project `project` only.
    pub fn list_in_project(
        &self,
        user_id: Uuid,
        project: Uuid,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<Document>, usize), CoreError> {
        let (all, _) = self.list(user_id, 0, usize::MAX)?;
        let hits: Vec<Document> = all
            .into_iter()
            .filter(|d| d.project_id == Some(project))
            .collect();
        let total = hits.len();
        Ok((hits.into_iter().skip(skip).take(limit).collect(), total))
    }

    /// A page of a document's chunks, in order, and how many there are.
    pub fn chunks(
        &self,
        user_id: Uuid,
        id: Uuid,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<(u32, String)>, usize), CoreError> {
        let doc = self.get(user_id, id)?;
        let page = self
            .inner
            .chunks
            .scan_prefix(&id)
            .skip(skip)
            .take(limit)
            .enumerate()
            .map(|(i, r)| r.map(|(_, text)| ((skip + i) as u32, text)))
            .collect::<Result<_, _>>()?;
        Ok((page, doc.chunk_count as usize))
    }

    /// Deletes a document, its chunks and its index entries.
    pub async fn delete(&self, user_id: Uuid, id: Uuid) -> Result<(), CoreError> {
        let doc = self.get(user_id, id)?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || -> Result<(), CoreError> {
            let _held = inner.locks.lock(&doc.id);
            inner.index.remove(doc.id)?;
            inner.chunks.remove_prefix(&doc.id)?;
            inner.texts.remove(&doc.id)?;
            inner.sources.remove(&doc.id)?;
            let (user, id) = (doc.user_id, doc.id);
            let _guard = inner.count.lock(user);
            inner.store.transaction_unflushed(
                &[&inner.docs, &inner.by_user, inner.count.table()],
                |tx| {
                    if tx.get(&inner.docs, &id)?.is_none() {
                        return Ok(());
                    }
                    tx.remove(&inner.by_user, &(user, id))?;
                    tx.remove(&inner.docs, &id)?;
                    inner.count.decrement_in(tx, user)
                },
            )?;
            Ok(())
        })
        .await
        .map_err(|e| CoreError::Internal(format!("delete task: {e}")))??;
        self.inner.store.commit().await?;
        Ok(())
    }

    /// The best chunks for `q` (plain text, at most [`MAX_QUERY_CHARS`]
    /// characters) over `user_id`'s documents. Runs on the blocking pool.
    pub async fn search(
        &self,
        user_id: Uuid,
        q: &str,
        limit: usize,
    ) -> Result<Vec<SearchHit>, CoreError> {
        if q.trim().is_empty() {
            return Err(CoreError::validation("q", "a search text"));
        }
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(CoreError::validation(
                "q",
                format!("at most {MAX_QUERY_CHARS} characters"),
            ));
        }
        let documents = self.clone();
        let q = q.to_string();
        tokio::task::spawn_blocking(move || documents.hits(user_id, &q, None, limit))
            .await
            .map_err(|e| CoreError::Internal(format!("search task: {e}")))?
    }

    /// The best `k` chunk texts for `q` within `documents` (retrieval for chat).
    pub fn retrieve(
        &self,
        user_id: Uuid,
        documents: &[Uuid],
        q: &str,
        k: usize,
    ) -> Result<Vec<String>, CoreError> {
        if documents.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        Ok(self
            .hits(user_id, q, Some(documents), k)?
            .into_iter()
            .map(|h| h.text)
            .collect())
    }

    fn hits(
        &self,
        user_id: Uuid,
        q: &str,
        within: Option<&[Uuid]>,
        limit: usize,
    ) -> Result<Vec<SearchHit>, CoreError> {
        let hits = self.inner.index.search(user_id, q, within, limit)?;
        let mut out = Vec::with_capacity(hits.len());
        for hit in hits {
            if let Some(text) = self.inner.chunks.get(&(hit.document_id, hit.chunk))? {
                out.push(SearchHit {
                    document_id: hit.document_id,
                    chunk: hit.chunk,
                    text,
                    score: hit.score,
                });
            }
        }
        Ok(out)
    }

    /// Chunks and indexes one document (blocking work; the ingest job's body).
    fn ingest(&self, id: Uuid) -> Result<Value, String> {
        let inner = &self.inner;
        let failed = |e: CoreError| e.public_message();
        let mut doc = inner
            .docs
            .get(&id)
            .map_err(|e| failed(e.into()))?
            .ok_or("the document was deleted")?;
        let text = inner
            .texts
            .get(&id)
            .map_err(|e| failed(e.into()))?
            .unwrap_or_default();
        let chunks = chunk(&text, inner.config.chunk_chars, inner.config.chunk_overlap);
        // From here on a delete waits for us, and we for a delete: a
        // document deleted while it was being chunked stays deleted.
        let _held = inner.locks.lock(&id);
        if inner.docs.get(&id).map_err(|e| failed(e.into()))?.is_none() {
            return Err("the document was deleted".into());
        }
        let result = (|| -> Result<(), CoreError> {
            inner.chunks.remove_prefix(&id)?;
            for (i, c) in chunks.iter().enumerate() {
                inner.chunks.insert(&(id, i as u32), c)?;
            }
            inner.index.put(doc.user_id, id, &chunks)
        })();
        match result {
            Ok(()) => {
                doc.status = DocumentStatus::Ready;
                doc.chunk_count = chunks.len() as u32;
                doc.error = None;
            }
            Err(e) => {
                tracing::error!(document = %id, error = %e, "ingestion failed");
                doc.status = DocumentStatus::Failed;
                doc.error = Some(e.public_message());
            }
        }
        inner.docs.insert(&id, &doc).map_err(|e| failed(e.into()))?;
        match doc.status {
            DocumentStatus::Ready => Ok(json!({ "document_id": id, "chunk_count": chunks.len() })),
            _ => Err(doc.error.unwrap_or_default()),
        }
    }
}

/// Where a new document's text comes from.
enum Source {
    /// Sent in the request.
    Text(String),
    /// An uploaded file of this size, read by the ingestion.
    File { id: Uuid, size: u64 },
}

impl Source {
    fn size(&self) -> u64 {
        match self {
            Source::Text(text) => text.len() as u64,
            Source::File { size, .. } => *size,
        }
    }
}

/// The `document.ingest` job type: `{"document_id"}`.
pub struct Ingest(pub Documents);

impl JobHandler for Ingest {
    fn validate(&self, payload: &Value) -> Result<(), CoreError> {
        payload["document_id"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .map(|_| ())
            .ok_or_else(|| CoreError::validation("payload.document_id", "a document id"))
    }

    fn run(&self, ctx: JobCtx) -> BoxFuture<'static, Result<Value, String>> {
        let documents = self.0.clone();
        Box::pin(async move {
            let id = ctx.payload["document_id"]
                .as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or("no document_id")?;
            // Only the owner's documents.
            documents
                .get(ctx.user_id, id)
                .map_err(|e| e.public_message())?;
            let store = documents.inner.store.clone();
            let source = documents.source_file(id).map_err(|e| e.public_message())?;
            let result = match source {
                Some(file) => documents.ingest_file(ctx.user_id, id, file).await,
                None => tokio::task::spawn_blocking(move || documents.ingest(id))
                    .await
                    .map_err(|_| "the ingestion crashed".to_string())?,
            };
            store
                .commit()
                .await
                .map_err(|e| CoreError::from(e).public_message())?;
            ctx.progress(100);
            result
        })
    }
}
