//! The full-text index of document chunks: tantivy in `<data dir>/search`.
//! It holds ids and the indexed text; the chunk text itself is in the store.

use std::path::Path;
use std::sync::Mutex;

use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TEXT, Value};
use tantivy::tokenizer::TokenStream;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};
use uuid::Uuid;

use crate::error::CoreError;

/// One hit: which chunk of which document, and how relevant.
#[derive(Debug, Clone)]
pub struct Hit {
    pub document_id: Uuid,
    pub chunk: u32,
    pub score: f32,
}

/// Distinct terms of one query that are searched for; the rest are ignored.
pub const MAX_TERMS: usize = 64;

pub struct SearchIndex {
    index: Index,
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    document: Field,
    user: Field,
    chunk: Field,
    text: Field,
}

fn internal(e: impl std::fmt::Display) -> CoreError {
    CoreError::Internal(format!("search index: {e}"))
}

impl SearchIndex {
    pub fn open(dir: &Path) -> Result<Self, CoreError> {
        let mut schema = Schema::builder();
        let document = schema.add_text_field("document_id", STRING | STORED);
        let user = schema.add_text_field("user_id", STRING);
        let chunk = schema.add_u64_field("chunk", STORED | INDEXED);
        let text = schema.add_text_field("text", TEXT);
        std::fs::create_dir_all(dir).map_err(internal)?;
        let directory = MmapDirectory::open(dir).map_err(internal)?;
        let index = Index::open_or_create(directory, schema.build()).map_err(internal)?;
        let writer = index
            .writer_with_num_threads(1, 32 * 1024 * 1024)
            .map_err(internal)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(internal)?;
        Ok(Self {
            index,
            writer: Mutex::new(writer),
            reader,
            document,
            user,
            chunk,
            text,
        })
    }

    /// Replaces a document's chunks in the index (blocking: call from a
    /// blocking thread) and makes them searchable.
    pub fn put(&self, user: Uuid, document: Uuid, chunks: &[String]) -> Result<(), CoreError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.delete_term(Term::from_field_text(self.document, &document.to_string()));
        for (i, text) in chunks.iter().enumerate() {
            writer
                .add_document(doc!(
                    self.document => document.to_string(),
                    self.user => user.to_string(),
                    self.chunk => i as u64,
                    self.text => text.as_str(),
                ))
                .map_err(internal)?;
        }
        writer.commit().map_err(internal)?;
        self.reader.reload().map_err(internal)
    }

    /// Adds chunks `first..` of a document without touching its others
    /// (blocking): ingestion from a file indexes one segment at a time.
    pub fn append(
        &self,
        user: Uuid,
        document: Uuid,
        first: u32,
        chunks: &[String],
    ) -> Result<(), CoreError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        for (i, text) in chunks.iter().enumerate() {
            writer
                .add_document(doc!(
                    self.document => document.to_string(),
                    self.user => user.to_string(),
                    self.chunk => u64::from(first) + i as u64,
                    self.text => text.as_str(),
                ))
                .map_err(internal)?;
        }
        writer.commit().map_err(internal)?;
        self.reader.reload().map_err(internal)
    }

    /// Removes a document from the index (blocking).
    pub fn remove(&self, document: Uuid) -> Result<(), CoreError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.delete_term(Term::from_field_text(self.document, &document.to_string()));
        writer.commit().map_err(internal)?;
        self.reader.reload().map_err(internal)
    }

    /// The best `limit` chunks for `q` among `user`'s documents (only those
    /// in `within`, when given). `q` is plain text: it is split into terms by
    /// the field's own tokenizer and any of them may match. There is no
    /// query grammar (no fields, ranges, phrases or nesting), so no text can
    /// make the query deep or expensive; at most [`MAX_TERMS`] distinct terms
    /// are used. Blocking: call from a blocking thread.
    pub fn search(
        &self,
        user: Uuid,
        q: &str,
        within: Option<&[Uuid]>,
        limit: usize,
    ) -> Result<Vec<Hit>, CoreError> {
        let terms = self.terms(q)?;
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let term = |field, value: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, value),
                IndexRecordOption::WithFreqs,
            ))
        };
        let any_term: Vec<(Occur, Box<dyn Query>)> = terms
            .iter()
            .map(|t| (Occur::Should, term(self.text, t)))
            .collect();
        let mut clauses = vec![
            (
                Occur::Must,
                Box::new(BooleanQuery::new(any_term)) as Box<dyn Query>,
            ),
            (Occur::Must, term(self.user, &user.to_string())),
        ];
        if let Some(ids) = within {
            let any: Vec<(Occur, Box<dyn Query>)> = ids
                .iter()
                .map(|id| (Occur::Should, term(self.document, &id.to_string())))
                .collect();
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let top = searcher
            .search(&query, &TopDocs::with_limit(limit.max(1)).order_by_score())
            .map_err(internal)?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let found: TantivyDocument = searcher.doc(address).map_err(internal)?;
            let document = found
                .get_first(self.document)
                .and_then(|v| v.as_str())
                .and_then(|s| Uuid::parse_str(s).ok());
            let chunk = found.get_first(self.chunk).and_then(|v| v.as_u64());
            if let (Some(document_id), Some(chunk)) = (document, chunk) {
                hits.push(Hit {
                    document_id,
                    chunk: chunk as u32,
                    score,
                });
            }
        }
        Ok(hits)
    }

    /// The distinct terms of `q` as the text field indexes them, in order
    /// of first appearance, at most [`MAX_TERMS`].
    fn terms(&self, q: &str) -> Result<Vec<String>, CoreError> {
        let mut analyzer = self
            .index
            .tokenizer_for_field(self.text)
            .map_err(internal)?;
        let mut stream = analyzer.token_stream(q);
        let mut terms: Vec<String> = Vec::new();
        while terms.len() < MAX_TERMS && stream.advance() {
            let text = &stream.token().text;
            if !terms.iter().any(|t| t == text) {
                terms.push(text.clone());
            }
        }
        Ok(terms)
    }
}
