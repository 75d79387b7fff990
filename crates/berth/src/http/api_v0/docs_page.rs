//! `/api/v0/docs`: the OpenAPI document as a page people read, rendered once from the
//! document itself (so it cannot disagree with it), with no script.

use askama::Template;
use serde_json::Value;

struct Parameter {
    name: String,
    place: String,
    kind: String,
    required: bool,
    description: String,
}

struct Answer {
    status: String,
    description: String,
    body: String,
}

struct Operation {
    id: String,
    method: String,
    path: String,
    summary: String,
    parameters: Vec<Parameter>,
    request: String,
    answers: Vec<Answer>,
}

struct Group {
    tag: String,
    operations: Vec<Operation>,
}

struct Field {
    name: String,
    kind: String,
    required: bool,
    description: String,
}

struct Schema {
    name: String,
    description: String,
    fields: Vec<Field>,
}

#[derive(Template)]
#[template(path = "api_docs.html")]
struct DocsPage {
    title: String,
    description: String,
    groups: Vec<Group>,
    schemas: Vec<Schema>,
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// A schema's type as people read it: a schema's name, `[T]` for arrays, `T or null`.
fn kind(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        return reference.rsplit('/').next().unwrap_or(reference).to_owned();
    }
    if let Some(choices) = schema["oneOf"].as_array().or_else(|| schema["anyOf"].as_array()) {
        return choices.iter().map(kind).collect::<Vec<_>>().join(" or ");
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let named: Vec<String> = types
        .iter()
        .map(|t| match *t {
            "array" => format!("[{}]", kind(&schema["items"])),
            "integer" => schema["format"].as_str().map_or("integer".to_owned(), str::to_owned),
            other => other.to_owned(),
        })
        .collect();
    if named.is_empty() { "object".to_owned() } else { named.join(" or ") }
}

/// The schema of a request or response body, if it has one.
fn body(value: &Value) -> String {
    value["content"]
        .as_object()
        .and_then(|c| c.iter().next())
        .map(|(media, v)| format!("{} ({media})", kind(&v["schema"])))
        .unwrap_or_default()
}

/// Renders the page from the document (as JSON).
pub fn render(document: &Value) -> String {
    let mut groups: Vec<Group> = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let tag = op["tags"][0].as_str().unwrap_or("other").to_owned();
            let parameters = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| Parameter {
                    name: text(&p["name"]),
                    place: text(&p["in"]),
                    kind: kind(&p["schema"]),
                    required: p["required"].as_bool().unwrap_or(false),
                    description: text(&p["description"]),
                })
                .collect();
            let answers = op["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(status, r)| Answer { status: status.clone(), description: text(&r["description"]), body: body(r) })
                .collect();
            let summary =
                [text(&op["summary"]), text(&op["description"])].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
            let operation = Operation {
                id: text(&op["operationId"]),
                method: method.to_uppercase(),
                path: path.clone(),
                summary,
                parameters,
                request: body(&op["requestBody"]),
                answers,
            };
            match groups.iter_mut().find(|g| g.tag == tag) {
                Some(group) => group.operations.push(operation),
                None => groups.push(Group { tag, operations: vec![operation] }),
            }
        }
    }
    groups.sort_by(|a, b| a.tag.cmp(&b.tag));
    let schemas = document["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, schema)| {
            let required: Vec<&str> = schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            Schema {
                name: name.clone(),
                description: text(&schema["description"]),
                fields: schema["properties"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(field, s)| Field {
                        name: field.clone(),
                        kind: kind(s),
                        required: required.contains(&field.as_str()),
                        description: text(&s["description"]),
                    })
                    .collect(),
            }
        })
        .collect();
    let page = DocsPage { title: text(&document["info"]["title"]), description: text(&document["info"]["description"]), groups, schemas };
    page.render().unwrap_or_else(|e| format!("the API document could not be rendered: {e}"))
}
