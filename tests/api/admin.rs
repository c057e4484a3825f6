//! Admin users (API.md 10) and the `chorus admin` CLI.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_401, call, envelope, spawn_app, test_config};

#[tokio::test]
async fn a_user_gets_403_from_admin_routes() {
    let app = spawn_app().await;
    app.sign_up("root").await;
    let user = app.sign_up("ada").await;
    let r = app.get_as("/admin/users", &user.access).await;
    assert_eq!(r.status(), 403);
    assert_eq!(envelope(r).await["error"]["code"], "AUTHORIZATION_ERROR");
}

#[tokio::test]
async fn admins_list_search_and_page_users() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    for name in ["ada", "bob", "adam"] {
        app.register(name).await;
    }
    let all: Value = app
        .get_as("/admin/users?limit=2", &root.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["total"], 4);
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    assert_eq!(all["items"][0]["username"], "adam", "newest first");
    let found: Value = app
        .get_as("/admin/users?search=AD", &root.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["total"], 2);
    let bad = app.get_as("/admin/users?limit=500", &root.access).await;
    assert_eq!(bad.status(), 422);
    assert_eq!(envelope(bad).await["error"]["details"]["field"], "limit");
    let id = all["items"][1]["id"].as_str().unwrap();
    let one: Value = app
        .get_as(&format!("/admin/users/{id}"), &root.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["username"], "bob");
}

#[tokio::test]
async fn deactivation_revokes_sessions_at_once_and_blocks_login() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let r = app
        .post_json(
            &format!("/admin/users/{}/deactivate", ada.user_id),
            Some(&root.access),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["is_active"], false);
    assert_401(app.get_as("/auth/me", &ada.access).await, "revoked").await;
    let login = app
        .post_json(
            "/auth/login",
            None,
            json!({"email": ada.email, "password": "password-ada"}),
        )
        .await;
    assert_eq!(login.status(), 401);

    let r = app
        .post_json(
            &format!("/admin/users/{}/activate", ada.user_id),
            Some(&root.access),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    app.login("ada").await;
}

#[tokio::test]
async fn only_a_superadmin_grants_admin_roles() {
    let app = spawn_app().await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let patch = |id: String, token: String, body: Value| {
        let app = &app;
        async move {
            app.send(
                Method::PATCH,
                &format!("/admin/users/{id}"),
                Some(&token),
                Some(body),
            )
            .await
        }
    };
    let r = patch(
        ada.user_id.clone(),
        root.access.clone(),
        json!({"role": "admin"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["role"], "admin");
    // Ada's existing token now carries admin rights: the role is read fresh.
    assert_eq!(app.get_as("/admin/users", &ada.access).await.status(), 200);

    let r = patch(
        bob.user_id.clone(),
        ada.access.clone(),
        json!({"role": "admin"}),
    )
    .await;
    assert_eq!(r.status(), 403, "an admin cannot grant admin");
    let r = patch(
        root.user_id.clone(),
        ada.access.clone(),
        json!({"is_active": false}),
    )
    .await;
    assert_eq!(r.status(), 403, "an admin cannot touch a superadmin");
    let r = patch(
        bob.user_id.clone(),
        ada.access.clone(),
        json!({"monthly_token_allowance": 1000}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["monthly_token_allowance"],
        1000
    );
    let r = patch(
        bob.user_id.clone(),
        ada.access.clone(),
        json!({"role": "wizard"}),
    )
    .await;
    assert_eq!(r.status(), 422);
    let r = patch(
        root.user_id.clone(),
        root.access.clone(),
        json!({"role": "user"}),
    )
    .await;
    assert_eq!(r.status(), 409, "nobody demotes themselves");
    let r = patch(
        uuid::Uuid::now_v7().to_string(),
        root.access.clone(),
        json!({"is_active": true}),
    )
    .await;
    assert_eq!(r.status(), 404);
}

#[test]
fn the_admin_cli_creates_users_and_sets_roles_on_a_stopped_data_dir() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chorus"))
        .args([
            "admin",
            "create-user",
            "--email",
            "Op@Example.com",
            "--username",
            "operator",
            "--role",
            "admin",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"operator-password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("operator <op@example.com> as admin"),
        "{said}"
    );
    assert!(!said.contains("operator-password"));

    let out = Command::new(env!("CARGO_BIN_EXE_chorus"))
        .args([
            "admin",
            "set-role",
            "--email",
            "op@example.com",
            "--role",
            "superadmin",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("now superadmin"));
    cli_role_change_is_audited(dir.path());

    let out = Command::new(env!("CARGO_BIN_EXE_chorus"))
        .args([
            "admin",
            "set-role",
            "--email",
            "ghost@example.com",
            "--role",
            "user",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// The role change made by `chorus admin set-role` is in the audit log,
/// with no acting user and `via: cli`, as the server later shows it.
fn cli_role_change_is_audited(dir: &std::path::Path) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let app = chorus::Application::build(test_config(dir)).await.unwrap();
        let app = TestApp::serve(app);
        let r = app
            .post_json(
                "/auth/login",
                None,
                json!({"email": "op@example.com", "password": "operator-password"}),
            )
            .await;
        assert_eq!(r.status(), 200);
        let login: Value = r.json().await.unwrap();
        let token = login["access_token"].as_str().unwrap();
        let (status, page) = call(
            &app,
            reqwest::Method::GET,
            "/admin/audit-logs?action=user.role_changed",
            token,
            None,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], 1, "{page}");
        let record = &page["items"][0];
        assert!(record["actor_id"].is_null(), "{record}");
        assert_eq!(record["details"]["from"], "admin", "{record}");
        assert_eq!(record["details"]["to"], "superadmin", "{record}");
        assert_eq!(record["details"]["via"], "cli", "{record}");
        app.stop().await;
    });
}
