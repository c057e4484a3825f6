//! Values the running server's configuration decides, filled into the
//! document it serves: the providers a request may name, their models, the
//! analysis templates and the longest `delay` job. A field whose values are
//! configured carries the marker `x-configured` (see [`marker`]); [`fill`]
//! replaces each marker with the values.

use std::collections::BTreeSet;

use chorus_actors::llm::MAX_OPEN_MODEL_CHARS;
use serde_json::{Value, json};

use crate::state::AppState;

/// The marker's key in a schema.
const KEY: &str = "x-configured";

/// What a marked field holds.
#[derive(Debug, Clone, Copy)]
pub enum Configured {
    /// A provider name, or empty for the default (`[providers]`).
    Provider,
    /// A model of a provider, or empty for its default.
    Model,
    /// `/v1`'s `model`: `<provider>/<model>`, or a model of the default provider.
    OpenAiModel,
    /// A template of `[templates]`.
    AnalysisType,
    /// The seconds of a `delay` job, up to `jobs.max_delay_s`.
    DelaySeconds,
}

impl Configured {
    fn name(self) -> &'static str {
        match self {
            Configured::Provider => "provider",
            Configured::Model => "model",
            Configured::OpenAiModel => "openai-model",
            Configured::AnalysisType => "analysis-type",
            Configured::DelaySeconds => "delay-seconds",
        }
    }
}

/// `schema` marked as holding `what` (a value of `fields`).
pub fn marker(mut schema: Value, what: Configured) -> Value {
    schema[KEY] = what.name().into();
    schema
}

/// Replaces every marker in `doc` with the values of the running server.
pub fn fill(doc: &mut utoipa::openapi::OpenApi, state: &AppState) {
    let values = Values::of(state);
    let filled = serde_json::to_value(&*doc)
        .map(|mut json| {
            walk(&mut json, &values);
            json
        })
        .and_then(serde_json::from_value);
    match filled {
        Ok(filled) => *doc = filled,
        Err(e) => tracing::error!(error = %e, "the OpenAPI document's configured values"),
    }
}

/// The configured values, as JSON Schema keywords per marker.
struct Values {
    providers: Vec<String>,
    /// `None` when a provider lists no models (any name up to
    /// [`MAX_OPEN_MODEL_CHARS`]).
    models: Option<BTreeSet<String>>,
    openai_models: Option<BTreeSet<String>>,
    templates: Vec<String>,
    max_delay_s: u64,
}

impl Values {
    fn of(state: &AppState) -> Self {
        let llm = state.core.llm();
        let infos = llm.infos();
        let open = infos.iter().any(|p| p.models.is_empty());
        let listed = |p: &chorus_actors::llm::ProviderInfo| {
            let mut models: BTreeSet<String> = p.models.iter().cloned().collect();
            models.insert(p.default_model.clone());
            models.insert(String::new());
            models
        };
        let models = (!open).then(|| infos.iter().flat_map(listed).collect());
        let openai_models = (!open).then(|| {
            let mut all = BTreeSet::new();
            for p in &infos {
                for m in listed(p) {
                    if p.name == llm.default_provider() {
                        all.insert(m.clone());
                    }
                    all.insert(format!("{}/{m}", p.name));
                }
            }
            all
        });
        let mut providers: Vec<String> = infos.iter().map(|p| p.name.clone()).collect();
        providers.insert(0, String::new());
        Self {
            providers,
            models,
            openai_models,
            templates: state.config.templates.keys().cloned().collect(),
            max_delay_s: state.config.jobs.max_delay_s,
        }
    }

    /// The keywords that replace a marker of `what` in a schema that
    /// takes `null` too when `nullable`.
    fn keywords(&self, what: &str, nullable: bool) -> Value {
        let choices = |values: &mut dyn Iterator<Item = &String>| {
            let mut list: Vec<Value> = values.map(|v| json!(v)).collect();
            if nullable {
                list.push(Value::Null);
            }
            json!({ "enum": list })
        };
        match what {
            "provider" => choices(&mut self.providers.iter()),
            "model" => match &self.models {
                Some(models) => choices(&mut models.iter()),
                None => json!({ "maxLength": MAX_OPEN_MODEL_CHARS }),
            },
            "openai-model" => match &self.openai_models {
                Some(models) => choices(&mut models.iter()),
                None => json!({}),
            },
            "analysis-type" => choices(&mut self.templates.iter()),
            "delay-seconds" => json!({ "maximum": self.max_delay_s }),
            _ => json!({}),
        }
    }
}

fn walk(value: &mut Value, values: &Values) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(what)) = map.remove(KEY) {
                let nullable = map
                    .get("type")
                    .and_then(Value::as_array)
                    .is_some_and(|t| t.iter().any(|t| t == "null"));
                if let Value::Object(add) = values.keywords(&what, nullable) {
                    map.extend(add);
                }
            }
            map.values_mut().for_each(|v| walk(v, values));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| walk(v, values)),
        _ => {}
    }
}
