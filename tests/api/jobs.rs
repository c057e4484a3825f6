//! Background jobs (API.md 5) end to end with the `delay` job type.

use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually, spawn_app, spawn_app_with};

impl TestApp {
    /// Creates a job as `token`; answers the status and the body.
    pub async fn job(&self, token: &str, body: Value) -> (u16, Value) {
        let r = self.post_json("/jobs", Some(token), body).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    pub async fn get_job(&self, token: &str, id: &str) -> Value {
        self.get_json(&format!("/jobs/{id}"), token).await
    }

    /// Waits until job `id` has status `status`; answers it.
    pub async fn job_until(&self, token: &str, id: &str, status: &str) -> Value {
        eventually(&format!("job {id} to be {status}"), || async {
            let job = self.get_job(token, id).await;
            (job["status"] == status).then_some(job)
        })
        .await
    }
}

fn kinds(events: &Value) -> Vec<String> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_delay_job_runs_reports_progress_and_completes() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let (status, job) = app
        .job(
            &ada.access,
            json!({"job_type": "delay", "payload": {"seconds": 0.2, "steps": 4}}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(job["attempts"], 0);
    assert_eq!(job["max_attempts"], 3);
    assert_eq!(job["priority"], 5);
    let id = job["id"].as_str().unwrap();
    let done = app.job_until(&ada.access, id, "completed").await;
    assert_eq!(done["progress_percent"], 100);
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["result"]["waited_s"], 0.2);
    assert!(done["started_at"].is_string() && done["completed_at"].is_string());

    let events: Value = app
        .get_json(&format!("/jobs/{id}/events"), &ada.access)
        .await;
    assert_eq!(
        kinds(&events),
        [
            "created",
            "started",
            "progress",
            "progress",
            "progress",
            "progress",
            "completed"
        ]
    );
    let seqs: Vec<u64> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());

    let page: Value = app.get_json("/jobs?status=completed", &ada.access).await;
    assert_eq!(page["total"], 1);
    let page: Value = app.get_json("/jobs?status=failed", &ada.access).await;
    assert_eq!(page["total"], 0);
}

#[tokio::test]
async fn bad_requests_and_other_users_jobs() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let (status, body) = app.job(&ada.access, json!({"job_type": "juggle"})).await;
    assert_eq!(
        (status, body["error"]["details"]["field"].as_str()),
        (422, Some("job_type"))
    );
    let (status, _) = app
        .job(&ada.access, json!({"job_type": "delay", "priority": 11}))
        .await;
    assert_eq!(status, 422);
    let (status, _) = app
        .job(
            &ada.access,
            json!({"job_type": "delay", "payload": {"seconds": 9999}}),
        )
        .await;
    assert_eq!(status, 422);

    let (_, job) = app.job(&ada.access, json!({"job_type": "delay"})).await;
    let id = job["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/jobs/{id}")),
        (Method::DELETE, format!("/jobs/{id}")),
        (Method::POST, format!("/jobs/{id}/cancel")),
        (Method::POST, format!("/jobs/{id}/retry")),
        (Method::GET, format!("/jobs/{id}/events")),
        (Method::GET, format!("/jobs/{id}/events/stream")),
        (Method::GET, format!("/jobs/{id}/logs")),
    ] {
        let r = app
            .send(method.clone(), &path, Some(&bob.access), None)
            .await;
        assert_eq!(r.status(), 404, "{method} {path}");
    }
}

#[tokio::test]
async fn an_idempotency_key_replays_the_same_job_and_refuses_another_body() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let body =
        json!({"job_type": "delay", "payload": {"seconds": 0}, "idempotency_key": "order-42"});
    let (first, job) = app.job(&ada.access, body.clone()).await;
    let (again, same) = app.job(&ada.access, body.clone()).await;
    assert_eq!((first, again), (201, 200));
    assert_eq!(job["id"], same["id"]);
    let other =
        json!({"job_type": "delay", "payload": {"seconds": 1}, "idempotency_key": "order-42"});
    let (status, e) = app.job(&ada.access, other).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (409, Some("CONFLICT"))
    );
    // Keys are per user.
    let (status, theirs) = app.job(&bob.access, body).await;
    assert_eq!(status, 201);
    assert_ne!(theirs["id"], job["id"]);
}

#[tokio::test]
async fn cancel_stops_a_running_job_and_retry_runs_it_again() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let (_, job) = app
        .job(
            &ada.access,
            json!({"job_type": "delay", "payload": {"seconds": 60, "steps": 60}}),
        )
        .await;
    let id = job["id"].as_str().unwrap();
    app.job_until(&ada.access, id, "running").await;
    let r = app
        .post_json(&format!("/jobs/{id}/cancel"), Some(&ada.access), json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let cancelled: Value = r.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    let r = app
        .post_json(&format!("/jobs/{id}/cancel"), Some(&ada.access), json!({}))
        .await;
    assert_eq!(r.status(), 409);

    let r = app
        .post_json(&format!("/jobs/{id}/retry"), Some(&ada.access), json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.unwrap();
    assert!(
        again["status"] == "pending" || again["status"] == "running",
        "{again}"
    );
    app.job_until(&ada.access, id, "running").await;
    let r = app
        .send(
            Method::DELETE,
            &format!("/jobs/{id}"),
            Some(&ada.access),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = app.get_as(&format!("/jobs/{id}"), &ada.access).await;
    assert_eq!(r.status(), 404);
    let r = app
        .post_json(&format!("/jobs/{id}/retry"), Some(&ada.access), json!({}))
        .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_failing_job_is_retried_with_backoff_until_max_attempts() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let (_, job) = app
        .job(
            &ada.access,
            json!({"job_type": "delay", "payload": {"fail": true}, "max_attempts": 2}),
        )
        .await;
    let id = job["id"].as_str().unwrap();
    let failed = app.job_until(&ada.access, id, "failed").await;
    assert_eq!(failed["attempts"], 2);
    assert!(failed["error"].as_str().unwrap().contains("fail"));
    let events: Value = app
        .get_json(&format!("/jobs/{id}/events"), &ada.access)
        .await;
    let kinds = kinds(&events);
    assert_eq!(kinds.iter().filter(|k| *k == "started").count(), 2);
    assert!(kinds.contains(&"retrying".to_string()));
    assert_eq!(kinds.last().unwrap(), "failed");
    // The second attempt waited out the backoff the retry announced.
    let nth = |kind: &str, n: usize| {
        let list = events.as_array().unwrap().iter();
        list.filter(|e| e["type"] == kind).nth(n).unwrap()
    };
    let at = |e: &Value| chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap();
    let backoff = nth("retrying", 0)["data"]["retry_in_ms"].as_i64().unwrap();
    assert_eq!(backoff, 1000, "1 s after the first failed attempt");
    let waited = (at(nth("started", 1)) - at(nth("retrying", 0))).num_milliseconds();
    assert!(
        waited >= backoff,
        "retried after {waited} ms, not {backoff}"
    );
    let logs: Value = app.get_json(&format!("/jobs/{id}/logs"), &ada.access).await;
    assert_eq!(logs.as_array().unwrap().len(), 2);
    assert_eq!(logs[0]["level"], "error");
}

#[tokio::test]
async fn higher_priority_runs_first_and_scheduled_jobs_wait() {
    let app = spawn_app_with(|c| c.jobs.concurrency = 1, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let (_, blocker) = app
        .job(
            &ada.access,
            json!({"job_type": "delay", "payload": {"seconds": 0.5}}),
        )
        .await;
    let (_, low) = app
        .job(&ada.access, json!({"job_type": "delay", "priority": 1}))
        .await;
    let (_, high) = app
        .job(&ada.access, json!({"job_type": "delay", "priority": 4}))
        .await;
    let due = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let (_, later) = app
        .job(
            &ada.access,
            json!({"job_type": "delay", "priority": 5, "scheduled_for": due.to_rfc3339()}),
        )
        .await;
    assert_eq!(later["status"], "scheduled");
    let started = |job: &Value| {
        chrono::DateTime::parse_from_rfc3339(job["started_at"].as_str().unwrap()).unwrap()
    };
    let low = app
        .job_until(&ada.access, low["id"].as_str().unwrap(), "completed")
        .await;
    let high = app
        .job_until(&ada.access, high["id"].as_str().unwrap(), "completed")
        .await;
    app.job_until(&ada.access, blocker["id"].as_str().unwrap(), "completed")
        .await;
    assert!(
        started(&high) <= started(&low),
        "priority 4 before priority 1"
    );
    let later = app
        .job_until(&ada.access, later["id"].as_str().unwrap(), "completed")
        .await;
    assert!(started(&later) >= due, "{later}");
}

#[tokio::test]
async fn the_event_stream_resumes_after_last_event_id_and_ends_after_the_end() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let (_, job) = app
        .job(
            &ada.access,
            json!({"job_type": "delay", "payload": {"seconds": 0.5, "steps": 5}}),
        )
        .await;
    let id = job["id"].as_str().unwrap();
    let r = app
        .client
        .get(app.url(&format!("/api/v1/jobs/{id}/events/stream")))
        .bearer_auth(&ada.access)
        .header("last-event-id", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let events: Vec<_> = r
        .bytes_stream()
        .eventsource()
        .map(|e| e.unwrap())
        .collect()
        .await;
    let ids: Vec<u64> = events.iter().map(|e| e.id.parse().unwrap()).collect();
    assert_eq!(
        ids,
        (3..=ids.len() as u64 + 2).collect::<Vec<_>>(),
        "every later event once, in order"
    );
    assert_eq!(events.last().unwrap().event, "completed");
    assert_eq!(events.iter().filter(|e| e.event == "progress").count(), 5);

    // After the end, the stream replays and ends at once.
    let r = app
        .get_as(&format!("/jobs/{id}/events/stream"), &ada.access)
        .await;
    let all: Vec<_> = r
        .bytes_stream()
        .eventsource()
        .map(|e| e.unwrap())
        .collect()
        .await;
    assert_eq!(all.first().unwrap().event, "created");
    assert_eq!(all.len(), ids.len() + 2);
}

#[tokio::test]
async fn status_changes_reach_the_owners_sockets_as_job_update() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let mut ws = app.ws(&ada.access).await;
    let (_, job) = app.job(&ada.access, json!({"job_type": "delay"})).await;
    loop {
        let update = ws.next_of("job.update").await;
        assert_eq!(update["job"]["id"], job["id"]);
        if update["job"]["status"] == "completed" {
            assert_eq!(update["job"]["progress_percent"], 100);
            break;
        }
    }
}

#[tokio::test]
async fn ticket_chat_runs_as_a_job_and_answers_on_its_ticket() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let r = app
        .post_json(
            "/chat",
            Some(&ada.access),
            json!({"messages": [{"role": "user", "content": "hello ticket"}]}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let ticket: Value = r.json().await.unwrap();
    assert_eq!(ticket["status"], "pending");
    let id = ticket["ticket_id"].as_str().unwrap();
    let done = eventually("the ticket to complete", || async {
        let t: Value = app.get_json(&format!("/chat/{id}"), &ada.access).await;
        (t["status"] == "completed").then_some(t)
    })
    .await;
    assert_eq!(done["result"]["content"], "hello ticket");
    assert_eq!(done["result"]["usage"]["completion_tokens"], 2);
    assert!(done["error"].is_null());
    // API.md 2.3: a ticket's model call is logged as kind `job`.
    let logs: Value = app.get_json("/query-logs?limit=10", &ada.access).await;
    assert_eq!(logs[0]["kind"], "job", "{logs}");

    let r = app.get_as(&format!("/chat/{id}"), &bob.access).await;
    assert_eq!(r.status(), 404);
    let r = app
        .post_json(
            "/chat",
            Some(&ada.access),
            json!({"messages": [{"role": "robot", "content": "x"}]}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["details"]["field"], "messages");
}
