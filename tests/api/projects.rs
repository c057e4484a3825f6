//! Projects (API.md 8): CRUD with paging and search, partial PATCH, soft
//! delete, the per-user cap, and `project_id` on conversations and documents.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, envelope, spawn_app, spawn_app_with};

impl TestApp {
    /// Creates a project as `token`, asserting 201; its view.
    pub async fn project(&self, token: &str, body: Value) -> Value {
        let r = self.post_json("/projects", Some(token), body).await;
        assert_eq!(r.status(), 201);
        r.json().await.unwrap()
    }
}

async fn field_error(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 422);
    let body = envelope(r).await;
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    body["error"]["details"]["field"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn projects_are_created_listed_searched_patched_and_soft_deleted() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let t = Some(ada.access.as_str());

    let first = app
        .project(
            &ada.access,
            json!({"name": "Garden", "description": "plants"}),
        )
        .await;
    assert_eq!(first["name"], "Garden");
    assert_eq!(first["description"], "plants");
    for key in ["id", "created_at", "updated_at"] {
        assert!(first[key].is_string(), "{key} in {first}");
    }
    assert!(first.get("deleted_at").is_none());
    let second = app
        .project(&ada.access, json!({"name": "Taxes 2026"}))
        .await;
    assert_eq!(second["description"], Value::Null);

    let page = app.get_json("/projects", &ada.access).await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["id"], second["id"], "newest first");
    let found = app.get_json("/projects?search=gARD", &ada.access).await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["id"], first["id"]);
    let paged = app.get_json("/projects?skip=1&limit=1", &ada.access).await;
    assert_eq!(
        (paged["total"].as_u64(), paged["skip"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(paged["items"][0]["id"], first["id"]);

    // PATCH changes only what it is sent.
    let id = first["id"].as_str().unwrap();
    let path = format!("/projects/{id}");
    let r = app
        .send(Method::PATCH, &path, t, Some(json!({"name": "Allotment"})))
        .await;
    assert_eq!(r.status(), 200);
    let renamed: Value = r.json().await.unwrap();
    assert_eq!(renamed["name"], "Allotment");
    assert_eq!(renamed["description"], "plants");
    assert_eq!(renamed["created_at"], first["created_at"]);
    let r = app
        .send(Method::PATCH, &path, t, Some(json!({"description": null})))
        .await;
    let cleared: Value = r.json().await.unwrap();
    assert_eq!(
        (cleared["name"].as_str(), &cleared["description"]),
        (Some("Allotment"), &Value::Null)
    );
    assert_eq!(app.get_json(&path, &ada.access).await["name"], "Allotment");

    let r = app.send(Method::DELETE, &path, t, None).await;
    assert_eq!(r.status(), 204);
    let gone = app.get_as(&path, &ada.access).await;
    assert_eq!(gone.status(), 404);
    assert_eq!(envelope(gone).await["error"]["code"], "NOT_FOUND");
    let page = app.get_json("/projects", &ada.access).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["id"], second["id"]);
    assert_eq!(
        app.get_json("/projects?search=allot", &ada.access).await["total"],
        0
    );
    for (method, body) in [
        (Method::PATCH, Some(json!({"name": "back"}))),
        (Method::DELETE, None),
    ] {
        assert_eq!(app.send(method, &path, t, body).await.status(), 404);
    }
}

#[tokio::test]
async fn bad_fields_are_422_and_another_users_project_is_404() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let t = Some(ada.access.as_str());
    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(256)}), "name"),
        (
            json!({"name": "ok", "description": "d".repeat(2001)}),
            "description",
        ),
        (json!({"name": 5}), "name"),
    ] {
        let r = app.post_json("/projects", t, body.clone()).await;
        assert_eq!(field_error(r).await, field, "{body}");
    }
    let fits = json!({"name": "é".repeat(255), "description": "d".repeat(2000)});
    let p = app.project(&ada.access, fits).await;
    let path = format!("/projects/{}", p["id"].as_str().unwrap());

    // A PATCH body must be an object, and its fields keep their caps.
    let r = app
        .send(Method::PATCH, &path, t, Some(json!(["name"])))
        .await;
    assert_eq!(field_error(r).await, "body");
    let r = app
        .send(Method::PATCH, &path, t, Some(json!({"name": ""})))
        .await;
    assert_eq!(field_error(r).await, "name");
    let bad = app.get_as("/projects?limit=0", &ada.access).await;
    assert_eq!(field_error(bad).await, "limit");

    let b = Some(bob.access.as_str());
    assert_eq!(app.get_as(&path, &bob.access).await.status(), 404);
    let r = app
        .send(Method::PATCH, &path, b, Some(json!({"name": "mine"})))
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(app.send(Method::DELETE, &path, b, None).await.status(), 404);
    assert_eq!(app.get_json("/projects", &bob.access).await["total"], 0);
    assert_eq!(app.get_json(&path, &ada.access).await["id"], p["id"]);
}

#[tokio::test]
async fn the_per_user_cap_counts_live_projects_only() {
    let app = spawn_app_with(|c| c.limits.max_projects_per_user = 2, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let t = Some(ada.access.as_str());
    let a = app.project(&ada.access, json!({"name": "a"})).await;
    app.project(&ada.access, json!({"name": "b"})).await;
    let over = app.post_json("/projects", t, json!({"name": "c"})).await;
    assert_eq!(over.status(), 429);
    let body = envelope(over).await;
    assert_eq!(body["error"]["code"], "QUOTA_EXCEEDED");
    assert_eq!(body["error"]["details"]["resource"], "projects");
    // Another user has a cap of their own.
    let bob = app.sign_up("bob").await;
    app.project(&bob.access, json!({"name": "c"})).await;
    // Deleting one frees its place.
    let path = format!("/projects/{}", a["id"].as_str().unwrap());
    assert_eq!(app.send(Method::DELETE, &path, t, None).await.status(), 204);
    app.project(&ada.access, json!({"name": "c"})).await;
}

#[tokio::test]
async fn conversations_and_documents_carry_a_live_project_of_their_owner() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let t = Some(ada.access.as_str());
    let garden = app.project(&ada.access, json!({"name": "garden"})).await;
    let gid = garden["id"].as_str().unwrap();
    let bobs = app.project(&bob.access, json!({"name": "bob's"})).await;

    let inside = app
        .post_json(
            "/conversations",
            t,
            json!({"title": "roses", "project_id": gid}),
        )
        .await;
    assert_eq!(inside.status(), 201);
    let inside: Value = inside.json().await.unwrap();
    assert_eq!(inside["project_id"], gid);
    let outside = app
        .conversation(&ada.access, json!({"title": "other"}))
        .await;
    let loose = app
        .get_json(&format!("/conversations/{outside}"), &ada.access)
        .await;
    assert_eq!(loose["project_id"], Value::Null);

    // Not a live project of the caller: 422 naming project_id.
    let deleted = app.project(&ada.access, json!({"name": "old"})).await;
    let did = deleted["id"].as_str().unwrap();
    app.send(Method::DELETE, &format!("/projects/{did}"), t, None)
        .await;
    let nobody = uuid::Uuid::now_v7().to_string();
    for project in [bobs["id"].as_str().unwrap(), did, nobody.as_str()] {
        let r = app
            .post_json("/conversations", t, json!({"project_id": project}))
            .await;
        assert_eq!(field_error(r).await, "project_id");
        let r = app
            .post_json(
                "/documents",
                t,
                json!({"title": "n", "text": "x", "project_id": project}),
            )
            .await;
        assert_eq!(field_error(r).await, "project_id");
        let r = app
            .send(
                Method::PATCH,
                &format!("/conversations/{outside}"),
                t,
                Some(json!({"project_id": project})),
            )
            .await;
        assert_eq!(field_error(r).await, "project_id");
    }
    let r = app
        .post_json("/conversations", t, json!({"project_id": "nope"}))
        .await;
    assert_eq!(field_error(r).await, "project_id");

    // PATCH moves a conversation in, and null takes it out.
    let conv_path = format!("/conversations/{outside}");
    let r = app
        .send(
            Method::PATCH,
            &conv_path,
            t,
            Some(json!({"project_id": gid})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["project_id"], gid);
    let listed = app
        .get_json(&format!("/conversations?project_id={gid}"), &ada.access)
        .await;
    assert_eq!(listed["total"], 2);
    let r = app
        .send(Method::PATCH, &conv_path, t, Some(json!({"title": "kept"})))
        .await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["project_id"],
        gid,
        "a PATCH without it keeps it"
    );
    let r = app
        .send(
            Method::PATCH,
            &conv_path,
            t,
            Some(json!({"project_id": null})),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["project_id"], Value::Null);
    let listed = app
        .get_json(&format!("/conversations?project_id={gid}"), &ada.access)
        .await;
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["id"], inside["id"]);
    assert_eq!(
        app.get_json("/conversations", &ada.access).await["total"],
        2
    );

    // Documents: created in a project, listed by it.
    let r = app
        .post_json(
            "/documents",
            t,
            json!({"title": "seeds.md", "text": "sow in spring", "project_id": gid}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let doc_id = r.json::<Value>().await.unwrap()["document_id"].clone();
    let r = app
        .post_json(
            "/documents",
            t,
            json!({"title": "loose.md", "text": "elsewhere"}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let doc = app
        .get_json(
            &format!("/documents/{}", doc_id.as_str().unwrap()),
            &ada.access,
        )
        .await;
    assert_eq!(doc["project_id"], gid);
    let listed = app
        .get_json(&format!("/documents?project_id={gid}"), &ada.access)
        .await;
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["id"], doc_id);
    let all = app.get_json("/documents", &ada.access).await;
    assert_eq!(all["total"], 2);
    assert_eq!(all["items"][0]["project_id"], Value::Null);
    // Another user filtering by it sees nothing of Ada's.
    let theirs = app
        .get_json(&format!("/documents?project_id={gid}"), &bob.access)
        .await;
    assert_eq!(theirs["total"], 0);
}
