//! What a notification says: its kind (a closed set, so the edge and the
//! socket never see a kind spelled two ways) and the title, body and data
//! of each trigger.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::model::{Job, JobStatus, Role};

/// The kinds of notification, as `kind` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoticeKind {
    /// One of the user's jobs completed (any type but `document.ingest`).
    JobCompleted,
    /// One of the user's jobs failed for good (after its last attempt).
    JobFailed,
    /// A document's ingestion finished: it is searchable now.
    DocumentReady,
    /// A document's ingestion failed for good.
    DocumentFailed,
    /// 80% of the monthly token allowance is used (once a month).
    QuotaWarning,
    /// The whole monthly token allowance is used (once a month).
    QuotaExceeded,
    /// An admin changed the user's role.
    RoleChanged,
    /// An admin changed the user's monthly token allowance.
    AllowanceChanged,
}

impl NoticeKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [NoticeKind; 8] = [
        NoticeKind::JobCompleted,
        NoticeKind::JobFailed,
        NoticeKind::DocumentReady,
        NoticeKind::DocumentFailed,
        NoticeKind::QuotaWarning,
        NoticeKind::QuotaExceeded,
        NoticeKind::RoleChanged,
        NoticeKind::AllowanceChanged,
    ];

    /// The `kind` of the JSON view.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::JobCompleted => "job.completed",
            NoticeKind::JobFailed => "job.failed",
            NoticeKind::DocumentReady => "document.ready",
            NoticeKind::DocumentFailed => "document.failed",
            NoticeKind::QuotaWarning => "quota.warning",
            NoticeKind::QuotaExceeded => "quota.exceeded",
            NoticeKind::RoleChanged => "account.role_changed",
            NoticeKind::AllowanceChanged => "account.allowance_changed",
        }
    }
}

/// A notification about to be sent: everything but its id, owner and times.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// Which trigger made it.
    pub kind: NoticeKind,
    /// One line for a list or a toast.
    pub title: String,
    /// A sentence or two for a person.
    pub body: String,
    /// The ids and figures a client links or shows (a JSON object).
    pub data: Value,
}

impl Notice {
    /// A user's job that ended (completed or failed for good); `document`
    /// is the title of the document a `document.ingest` job ingested, if
    /// it still exists. `None` for a job that did not end.
    pub fn job_ended(job: &Job, document: Option<String>) -> Option<Notice> {
        let completed = match job.status {
            JobStatus::Completed => true,
            JobStatus::Failed => false,
            _ => return None,
        };
        let error = job.error.clone().unwrap_or_default();
        if job.job_type == "document.ingest" {
            return Some(document_ended(job, document, completed, error));
        }
        let data =
            json!({ "job_id": job.id, "job_type": job.job_type, "status": job.status.as_str() });
        Some(if completed {
            Notice {
                kind: NoticeKind::JobCompleted,
                title: "Job completed".into(),
                body: format!("Your {} job completed.", job.job_type),
                data,
            }
        } else {
            let mut data = data;
            data["error"] = error.clone().into();
            Notice {
                kind: NoticeKind::JobFailed,
                title: "Job failed".into(),
                body: format!("Your {} job failed: {error}", job.job_type),
                data,
            }
        })
    }

    /// `used` of `allowance` tokens in `period` (`yyyy-mm`): a warning
    /// from 80%, `exceeded` from 100%.
    pub fn quota(exceeded: bool, used: u64, allowance: u64, period: &str) -> Notice {
        let percent = if exceeded { 100 } else { 80 };
        let data =
            json!({ "used": used, "allowance": allowance, "percent": percent, "period": period });
        if exceeded {
            Notice {
                kind: NoticeKind::QuotaExceeded,
                title: "Monthly token allowance used up".into(),
                body: format!(
                    "You have used {used} of your {allowance} tokens for {period}; AI calls are refused until the next month begins."
                ),
                data,
            }
        } else {
            Notice {
                kind: NoticeKind::QuotaWarning,
                title: "80% of your monthly tokens used".into(),
                body: format!("You have used {used} of your {allowance} tokens for {period}."),
                data,
            }
        }
    }

    /// An admin changed the user's role from `from` to `to`.
    pub fn role_changed(from: Role, to: Role) -> Notice {
        Notice {
            kind: NoticeKind::RoleChanged,
            title: "Your role changed".into(),
            body: format!(
                "An administrator changed your role from {} to {}.",
                from.as_str(),
                to.as_str()
            ),
            data: json!({ "from": from.as_str(), "to": to.as_str() }),
        }
    }

    /// An admin changed the user's monthly allowance (`None`: unlimited).
    pub fn allowance_changed(from: Option<u64>, to: Option<u64>) -> Notice {
        let words = |a: Option<u64>| a.map_or("unlimited".to_string(), |n| format!("{n} tokens"));
        Notice {
            kind: NoticeKind::AllowanceChanged,
            title: "Your monthly token allowance changed".into(),
            body: format!(
                "An administrator changed your monthly token allowance from {} to {}.",
                words(from),
                words(to)
            ),
            data: json!({ "from": from, "to": to }),
        }
    }
}

/// The document an ingestion job named in its payload.
pub fn document_of(job: &Job) -> Option<Uuid> {
    let payload = serde_json::from_str::<Value>(job.payload_json.as_str()).ok()?;
    payload["document_id"].as_str()?.parse().ok()
}

fn document_ended(job: &Job, title: Option<String>, completed: bool, error: String) -> Notice {
    let id = document_of(job);
    let chunks = job
        .result_json
        .as_ref()
        .and_then(|r| serde_json::from_str::<Value>(r.as_str()).ok())
        .and_then(|r| r["chunk_count"].as_u64());
    let name = title.clone().unwrap_or_else(|| "Your document".into());
    let mut data = json!({ "document_id": id, "job_id": job.id, "title": title });
    if completed {
        data["chunk_count"] = chunks.unwrap_or(0).into();
        Notice {
            kind: NoticeKind::DocumentReady,
            title: "Document ready".into(),
            body: format!("{name} is ready to search."),
            data,
        }
    } else {
        data["error"] = error.clone().into();
        Notice {
            kind: NoticeKind::DocumentFailed,
            title: "Document failed".into(),
            body: format!("{name} could not be processed: {error}"),
            data,
        }
    }
}
