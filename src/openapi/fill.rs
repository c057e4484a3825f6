//! The last step of the document, on its JSON: schemas written as JSON
//! (`x-schema`, see [`raw`]) take their place, the values the running
//! server's configuration decides are filled in (`x-configured`, see
//! [`marker`]: the providers a request may name, their models, the
//! analysis templates, the longest `delay` job), and every UUID gets the
//! pattern of the forms the server parses.

use std::collections::BTreeSet;

use chorus_actors::llm::MAX_OPEN_MODEL_CHARS;
use serde_json::{Value, json};
use utoipa::openapi::Schema;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{ObjectBuilder, SchemaType};

use crate::state::AppState;

/// The configured marker's key in a schema.
const KEY: &str = "x-configured";
/// The key of a schema written as JSON.
const RAW: &str = "x-schema";

/// What `Uuid::parse_str` reads: hyphenated, simple, braced or URN.
fn uuid_pattern() -> String {
    let h = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
    format!("^(?:[0-9a-fA-F]{{32}}|{h}|\\{{{h}\\}}|urn:uuid:{h})$")
}

/// `value`, a JSON Schema, as a schema of the document. utoipa's own types
/// cannot hold every keyword (`anyOf` of types, `not`, a schema of any
/// type), so it travels as an extension and takes its place in [`fill`].
pub fn raw(value: Value) -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .extensions(Some(Extensions::from_iter([(RAW, value)])))
        .into()
}

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
    /// An announced file size, up to `files.max_bytes`.
    FileSize,
}

impl Configured {
    fn name(self) -> &'static str {
        match self {
            Configured::Provider => "provider",
            Configured::Model => "model",
            Configured::OpenAiModel => "openai-model",
            Configured::AnalysisType => "analysis-type",
            Configured::DelaySeconds => "delay-seconds",
            Configured::FileSize => "file-size",
        }
    }
}

/// `schema` marked as holding `what` (a value of `fields`).
pub fn marker(mut schema: Value, what: Configured) -> Value {
    schema[KEY] = what.name().into();
    schema
}

/// Replaces every marker in `doc` (the document as JSON) with its schema
/// or the values of the running server.
pub fn fill(doc: &mut Value, state: &AppState) {
    walk(doc, &Values::of(state));
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
    max_file_bytes: u64,
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
            max_file_bytes: state.config.files.max_bytes,
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
            "file-size" => json!({ "maximum": self.max_file_bytes }),
            _ => json!({}),
        }
    }
}

fn walk(value: &mut Value, values: &Values) {
    walk_with(value, values, &uuid_pattern());
}

fn walk_with(value: &mut Value, values: &Values, uuid: &str) {
    if let Some(raw) = value.get_mut(RAW).map(Value::take) {
        *value = raw;
    }
    match value {
        Value::Object(map) => {
            if map.get("format").is_some_and(|f| f == "uuid") {
                map.insert("pattern".into(), uuid.into());
            }
            if let Some(Value::String(what)) = map.remove(KEY) {
                let nullable = map
                    .get("type")
                    .and_then(Value::as_array)
                    .is_some_and(|t| t.iter().any(|t| t == "null"));
                if let Value::Object(add) = values.keywords(&what, nullable) {
                    map.extend(add);
                }
            }
            map.values_mut().for_each(|v| walk_with(v, values, uuid));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| walk_with(v, values, uuid)),
        _ => {}
    }
}
