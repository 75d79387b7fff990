//! The rules policies state about tags (`field operator values`), checked once when a
//! policy is stored and evaluated against what is known of a tag. Pruning looks at names
//! and times; promotion at names, signatures, image labels and manifest annotations.

use berth_meta::TagRule;
use serde_json::{Map, Value};

use crate::Error;

/// What a rule's regular expression may compile to.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;
/// The most rules a policy holds, values a rule holds, and characters a value holds.
const MAX_RULES: usize = 32;
const MAX_VALUES: usize = 100;
const MAX_VALUE: usize = 256;

/// Which policy the rules are for: each looks at its own fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// `tag`, `pushed`, `pulled`.
    Pruning,
    /// `tag`, `signed`, `label`, `annotation` (promotion and push mirroring).
    Promotion,
    /// `tag` (poll mirroring: a remote tag is known by its name only).
    Polling,
}

/// What rules look at, for one tag.
pub(crate) struct Facts<'a> {
    pub tag: &'a str,
    /// When the tag last moved (seconds since the epoch).
    pub moved_at: u64,
    /// When its manifest was last pulled, or `moved_at` when never.
    pub pulled_at: u64,
    /// Signed in the trust data, for the digest it points at.
    pub signed: bool,
    /// The image's labels (its config's `config.Labels`), when read.
    pub labels: Option<&'a Map<String, Value>>,
    /// The manifest's top-level annotations, when read.
    pub annotations: Option<&'a Map<String, Value>>,
}

/// A rule, checked and ready to evaluate.
pub(crate) enum Rule {
    Name {
        operator: NameOperator,
        values: Vec<String>,
    },
    Matches(Vec<regex::Regex>),
    PushedOlderThan(u64),
    PulledOlderThan(u64),
    Signed(bool),
    /// A label (`label`) or annotation: `key=value` pairs, or keys that need only exist.
    Metadata {
        labels: bool,
        pairs: Vec<(String, Option<String>)>,
    },
}

#[derive(Clone, Copy)]
pub(crate) enum NameOperator {
    Equals,
    NotEquals,
    StartsWith,
    EndsWith,
    Contains,
}

/// `30d`, `12h`, `15m`, `45s`, `2w` as seconds.
pub(crate) fn duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(unit)
}

/// Checks a policy's rules; the compiled rules.
pub(crate) fn compile(rules: &[TagRule], purpose: Purpose) -> Result<Vec<Rule>, Error> {
    if rules.len() > MAX_RULES {
        return Err(Error::Invalid(format!("a policy has at most {MAX_RULES} rules")));
    }
    rules.iter().map(|r| Rule::compile(r, purpose)).collect()
}

impl Rule {
    fn compile(rule: &TagRule, purpose: Purpose) -> Result<Rule, Error> {
        let invalid = |why: &str| Error::Invalid(format!("rule {} {} {:?}: {why}", rule.field, rule.operator, rule.values));
        if rule.values.is_empty() {
            return Err(invalid("give at least one value"));
        }
        if rule.values.len() > MAX_VALUES || rule.values.iter().any(|v| v.len() > MAX_VALUE) {
            return Err(invalid(&format!("at most {MAX_VALUES} values of at most {MAX_VALUE} characters")));
        }
        let fields = match purpose {
            Purpose::Pruning => "tag, pushed or pulled",
            Purpose::Promotion => "tag, signed, label or annotation",
            Purpose::Polling => "tag",
        };
        match (purpose, rule.field.as_str(), rule.operator.as_str()) {
            (_, "tag", "matches") => rule
                .values
                .iter()
                .map(|pattern| {
                    // Anchored: the pattern names whole tags, as `eq` does.
                    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
                        .size_limit(PATTERN_SIZE_LIMIT)
                        .build()
                        .map_err(|e| invalid(&format!("not a regular expression: {e}")))
                })
                .collect::<Result<_, _>>()
                .map(Rule::Matches),
            (_, "tag", operator) => {
                let operator = match operator {
                    "eq" => NameOperator::Equals,
                    "neq" => NameOperator::NotEquals,
                    "sw" => NameOperator::StartsWith,
                    "ew" => NameOperator::EndsWith,
                    "contains" => NameOperator::Contains,
                    _ => return Err(invalid("a tag rule's operator is eq, neq, sw, ew, contains or matches")),
                };
                Ok(Rule::Name { operator, values: rule.values.clone() })
            }
            (Purpose::Pruning, field @ ("pushed" | "pulled"), "olderThan") => {
                let [value] = rule.values.as_slice() else { return Err(invalid("give one duration")) };
                let seconds = duration(value).ok_or_else(|| invalid("a duration is a number and a unit: 45s, 15m, 12h, 30d, 2w"))?;
                Ok(if field == "pushed" { Rule::PushedOlderThan(seconds) } else { Rule::PulledOlderThan(seconds) })
            }
            (Purpose::Pruning, "pushed" | "pulled", _) => Err(invalid("a time rule's operator is olderThan")),
            (Purpose::Promotion, "signed", "eq") => match rule.values.as_slice() {
                [v] if v == "true" => Ok(Rule::Signed(true)),
                [v] if v == "false" => Ok(Rule::Signed(false)),
                _ => Err(invalid("a signed rule's value is true or false")),
            },
            (Purpose::Promotion, "signed", _) => Err(invalid("a signed rule's operator is eq")),
            (Purpose::Promotion, field @ ("label" | "annotation"), operator @ ("eq" | "exists")) => {
                let pairs = rule
                    .values
                    .iter()
                    .map(|v| match (operator, v.split_once('=')) {
                        ("eq", Some((key, value))) if !key.is_empty() => Ok((key.to_owned(), Some(value.to_owned()))),
                        ("eq", _) => Err(invalid("an eq value is key=value")),
                        (_, _) if v.is_empty() || v.contains('=') => Err(invalid("an exists value is a key")),
                        _ => Ok((v.clone(), None)),
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Rule::Metadata { labels: field == "label", pairs })
            }
            (Purpose::Promotion, "label" | "annotation", _) => Err(invalid("a label or annotation rule's operator is eq or exists")),
            _ => Err(invalid(&format!("the field is {fields}"))),
        }
    }

    /// Whether the rule holds for the tag at `now` (seconds since the epoch).
    pub(crate) fn holds(&self, f: &Facts, now: u64) -> bool {
        match self {
            Rule::Name { operator: NameOperator::NotEquals, values } => !values.iter().any(|v| v == f.tag),
            Rule::Name { operator, values } => values.iter().any(|v| match operator {
                NameOperator::Equals | NameOperator::NotEquals => f.tag == v,
                NameOperator::StartsWith => f.tag.starts_with(v.as_str()),
                NameOperator::EndsWith => f.tag.ends_with(v.as_str()),
                NameOperator::Contains => f.tag.contains(v.as_str()),
            }),
            Rule::Matches(patterns) => patterns.iter().any(|p| p.is_match(f.tag)),
            Rule::PushedOlderThan(seconds) => now.saturating_sub(f.moved_at) > *seconds,
            Rule::PulledOlderThan(seconds) => now.saturating_sub(f.pulled_at) > *seconds,
            Rule::Signed(wanted) => f.signed == *wanted,
            Rule::Metadata { labels, pairs } => {
                let Some(map) = (if *labels { f.labels } else { f.annotations }) else { return false };
                pairs.iter().any(|(key, value)| match (map.get(key), value) {
                    (Some(Value::String(found)), Some(wanted)) => found == wanted,
                    (Some(_), None) => true,
                    _ => false,
                })
            }
        }
    }

    /// Whether the rule looks at the image's labels (which are read from its config blob).
    pub(crate) fn needs_labels(&self) -> bool {
        matches!(self, Rule::Metadata { labels: true, .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(field: &str, operator: &str, values: &[&str]) -> TagRule {
        TagRule { field: field.into(), operator: operator.into(), values: values.iter().map(|v| (*v).to_owned()).collect() }
    }

    #[test]
    fn durations_read_their_unit() {
        assert_eq!(duration("45s"), Some(45));
        assert_eq!(duration("30d"), Some(30 * 86_400));
        assert_eq!(duration("2w"), Some(1_209_600));
        for bad in ["", "d", "30", "30y", "-1d", "1.5h", "99999999999999999999d"] {
            assert_eq!(duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn rules_are_checked_for_their_policy_before_they_are_stored() {
        assert!(compile(&[rule("tag", "sw", &["dev-"]), rule("pushed", "olderThan", &["30d"])], Purpose::Pruning).is_ok());
        assert!(compile(&[rule("signed", "eq", &["true"]), rule("label", "eq", &["stage=prod"])], Purpose::Promotion).is_ok());
        for (bad, purpose, why) in [
            (rule("tag", "like", &["x"]), Purpose::Pruning, "operator"),
            (rule("tag", "eq", &[]), Purpose::Pruning, "at least one value"),
            (rule("tag", "matches", &["(unclosed"]), Purpose::Promotion, "regular expression"),
            (rule("pushed", "olderThan", &["soon"]), Purpose::Pruning, "duration"),
            (rule("pushed", "olderThan", &["1d", "2d"]), Purpose::Pruning, "one duration"),
            (rule("pulled", "eq", &["1d"]), Purpose::Pruning, "olderThan"),
            (rule("size", "gt", &["1"]), Purpose::Pruning, "tag, pushed or pulled"),
            (rule("pushed", "olderThan", &["1d"]), Purpose::Promotion, "tag, signed, label or annotation"),
            (rule("signed", "eq", &["yes"]), Purpose::Promotion, "true or false"),
            (rule("signed", "eq", &["true"]), Purpose::Pruning, "tag, pushed or pulled"),
            (rule("label", "eq", &["stage"]), Purpose::Promotion, "key=value"),
            (rule("annotation", "exists", &["a=b"]), Purpose::Promotion, "a key"),
        ] {
            let message = compile(&[bad], purpose).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains(why), "{message} lacks {why}");
        }
    }

    #[test]
    fn labels_and_annotations_match_by_value_or_presence() {
        let labels: Map<String, Value> = serde_json::from_str(r#"{"stage":"prod","team":"web"}"#).unwrap();
        let facts = Facts { tag: "1.0", moved_at: 0, pulled_at: 0, signed: true, labels: Some(&labels), annotations: None };
        let holds = |r: TagRule| compile(&[r], Purpose::Promotion).unwrap()[0].holds(&facts, 0);
        assert!(holds(rule("label", "eq", &["stage=prod"])));
        assert!(!holds(rule("label", "eq", &["stage=dev"])));
        assert!(holds(rule("label", "eq", &["stage=dev", "team=web"])), "any value");
        assert!(holds(rule("label", "exists", &["team"])));
        assert!(!holds(rule("annotation", "exists", &["team"])), "no annotations");
        assert!(holds(rule("signed", "eq", &["true"])));
    }
}
