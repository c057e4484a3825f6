//! Admin usage (API.md 10) and real `cost_usd` (the `[providers.*.prices]`
//! table): the month's top users by a metric, one user's usage by month,
//! day and model, and a configuration with a bad price refused at start.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, call, eventually, spawn_app_with};

/// Echo's model at $1,000 per million input tokens and $2,000 per million
/// output tokens: a millionth of a dollar costs 1,000 and 2,000 per token.
fn priced_echo(c: &mut chorus::config::Config) {
    let echo = c.providers.get_mut("echo").unwrap();
    echo.tokens_per_s = Some(0.0);
    echo.prices.insert(
        "echo-1".into(),
        chorus::config::ModelPriceConfig {
            input: 1000.0,
            output: 2000.0,
        },
    );
}

async fn complete(app: &TestApp, token: &str, text: &str) {
    let body = json!({"messages": [{"role": "user", "content": text}]});
    let r = app.post_json("/ai/completions", Some(token), body).await;
    assert_eq!(r.status(), 200);
}

/// The caller's usage once it counts `requests` calls.
async fn usage_after(app: &TestApp, token: &str, requests: u64) -> Value {
    eventually("usage recorded", || async {
        let u = app.get_json("/users/me/usage", token).await;
        (u["ai_requests"] == requests).then_some(u)
    })
    .await
}

fn close(a: &Value, b: f64) -> bool {
    (a.as_f64().unwrap() - b).abs() < 1e-9
}

#[tokio::test]
async fn cost_usd_is_the_calls_tokens_at_the_configured_prices() {
    let app = spawn_app_with(priced_echo, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    complete(&app, &ada.access, "three little words").await;
    complete(&app, &ada.access, "and two more").await;
    let u = usage_after(&app, &ada.access, 2).await;
    let (prompt, completion) = (
        u["prompt_tokens"].as_u64().unwrap(),
        u["completion_tokens"].as_u64().unwrap(),
    );
    assert!(prompt > 0 && completion > 0, "{u}");
    let expected = (prompt * 1000 + completion * 2000) as f64 / 1e6;
    assert!(close(&u["cost_usd"], expected), "{u}: expected {expected}");
    let me = app.get_json("/users/me", &ada.access).await;
    assert_eq!(me["usage"]["cost_usd"], u["cost_usd"]);
}

#[tokio::test]
async fn the_default_echo_model_costs_nothing() {
    let app = spawn_app_with(
        |c| c.providers.get_mut("echo").unwrap().tokens_per_s = Some(0.0),
        axum::Router::new(),
    )
    .await;
    let ada = app.sign_up("ada").await;
    complete(&app, &ada.access, "free words").await;
    let u = usage_after(&app, &ada.access, 1).await;
    assert_eq!(u["cost_usd"], 0.0);
    assert!(u["total_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn top_users_rank_this_months_users_by_the_metric_asked() {
    let app = spawn_app_with(priced_echo, axum::Router::new()).await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let _idle = app.sign_up("cyd").await;
    // Ada: one long call; Bob: three short ones.
    let long =
        "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen";
    complete(&app, &ada.access, long).await;
    for _ in 0..3 {
        complete(&app, &bob.access, "hi").await;
    }
    let a = usage_after(&app, &ada.access, 1).await;
    let b = usage_after(&app, &bob.access, 3).await;
    assert!(
        a["total_tokens"].as_u64() > b["total_tokens"].as_u64(),
        "{a} {b}"
    );

    let top = app.get_json("/admin/usage/top-users", &root.access).await;
    assert_eq!(top["metric"], "total_tokens");
    assert!(
        top["period"]["start"]
            .as_str()
            .unwrap()
            .ends_with("01T00:00:00.000Z")
    );
    let items = top["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "users without usage are not listed: {top}");
    assert_eq!(items[0]["user_id"], ada.user_id.as_str());
    assert_eq!(items[0]["email"], "ada@example.com");
    assert_eq!(items[0]["username"], "ada");
    assert_eq!(items[0]["value"], a["total_tokens"].as_f64().unwrap());
    assert_eq!(items[0]["total_tokens"], a["total_tokens"]);
    assert_eq!(items[0]["ai_requests"], 1);
    assert_eq!(items[1]["username"], "bob");

    let top = app
        .get_json(
            "/admin/usage/top-users?metric=requests&limit=1",
            &root.access,
        )
        .await;
    let items = top["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["username"], "bob");
    assert_eq!(items[0]["value"], 3.0);

    let top = app
        .get_json("/admin/usage/top-users?metric=cost_usd", &root.access)
        .await;
    let costs: Vec<f64> = top["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_f64().unwrap())
        .collect();
    assert!(close(&top["items"][0]["cost_usd"], costs[0]));
    assert!(costs[0] >= costs[1] && costs[1] > 0.0, "{costs:?}");
    let by_cost: Vec<&str> = top["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["username"].as_str().unwrap())
        .collect();
    let ada_cost = a["cost_usd"].as_f64().unwrap();
    let bob_cost = b["cost_usd"].as_f64().unwrap();
    assert_eq!(by_cost[0], if ada_cost >= bob_cost { "ada" } else { "bob" });

    for bad in ["metric=latency", "limit=0", "limit=101", "limit=ten"] {
        let (status, body) = call(
            &app,
            Method::GET,
            &format!("/admin/usage/top-users?{bad}"),
            &root.access,
            None,
        )
        .await;
        assert_eq!(status, 422, "{bad}: {body}");
        let field = bad.split('=').next().unwrap();
        assert_eq!(body["error"]["details"]["field"], field, "{bad}");
    }
}

#[tokio::test]
async fn a_users_summary_gives_usage_by_month_day_and_model() {
    let app = spawn_app_with(priced_echo, axum::Router::new()).await;
    let root = app.sign_up("root").await;
    let ada = app.sign_up("ada").await;
    complete(&app, &ada.access, "count these words").await;
    complete(&app, &ada.access, "and these").await;
    let u = usage_after(&app, &ada.access, 2).await;

    let s = app
        .get_json(
            &format!("/admin/usage/summary/{}", ada.user_id),
            &root.access,
        )
        .await;
    assert_eq!(s["user_id"], ada.user_id.as_str());
    assert_eq!(s["email"], "ada@example.com");
    let months = s["by_month"].as_array().unwrap();
    assert_eq!(months.len(), 1, "{s}");
    let month = &months[0];
    assert_eq!(
        month["month"].as_str().unwrap(),
        &s["period"]["start"].as_str().unwrap()[..7]
    );
    for field in [
        "ai_requests",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cost_usd",
    ] {
        assert_eq!(month[field], u[field], "by_month {field}");
    }
    let days = s["by_day"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    let today = days.last().unwrap();
    assert_eq!(today["ai_requests"], 2);
    assert_eq!(today["total_tokens"], u["total_tokens"]);
    assert!(close(&today["cost_usd"], u["cost_usd"].as_f64().unwrap()));
    assert!(days[..29].iter().all(|d| d["ai_requests"] == 0));
    let models = s["by_model"].as_array().unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0]["model"], "echo-1");
    assert_eq!(models[0]["ai_requests"], 2);
    assert_eq!(models[0]["cost_usd"], u["cost_usd"]);

    let week = app
        .get_json(
            &format!("/admin/usage/summary/{}?days=7", ada.user_id),
            &root.access,
        )
        .await;
    assert_eq!(week["by_day"].as_array().unwrap().len(), 7);
    let quiet = app
        .get_json(
            &format!("/admin/usage/summary/{}", root.user_id),
            &root.access,
        )
        .await;
    assert_eq!(quiet["by_month"], json!([]));
    assert_eq!(quiet["by_model"], json!([]));

    let stranger = uuid::Uuid::now_v7();
    let (status, body) = call(
        &app,
        Method::GET,
        &format!("/admin/usage/summary/{stranger}"),
        &root.access,
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "NOT_FOUND");
    let (status, _) = call(
        &app,
        Method::GET,
        "/admin/usage/summary/not-a-uuid",
        &root.access,
        None,
    )
    .await;
    assert_eq!(status, 422);
    let (status, body) = call(
        &app,
        Method::GET,
        &format!("/admin/usage/summary/{}?days=91", ada.user_id),
        &root.access,
        None,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["details"]["field"], "days");
}

/// Runs the binary with `toml` as its `--config` file: the exit code and stderr.
fn with_config(toml: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chorus.toml");
    std::fs::write(&file, toml).unwrap();
    let out = crate::binary::chorus(&dir.path().join("data"))
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_negative_or_misplaced_price_stops_start_up_with_exit_2_naming_the_key() {
    let cases = [
        (
            "[providers.echo.prices.\"echo-1\"]\ninput = -0.5\noutput = 1.0\n",
            "providers.echo.prices.\"echo-1\".input",
        ),
        (
            "[providers.echo.prices.\"echo-1\"]\ninput = 0.5\noutput = -1\n",
            "providers.echo.prices.\"echo-1\".output",
        ),
        (
            "[providers.echo.prices.\"echo-2\"]\ninput = 0.5\noutput = 1.0\n",
            "providers.echo.prices.\"echo-2\"",
        ),
    ];
    for (toml, key) in cases {
        let (code, stderr) = with_config(toml);
        assert_eq!(code, Some(2), "{key}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {stderr}");
        assert!(lines[0].contains(key), "{key} not named in: {stderr}");
    }
}
