//! Responses as trees of fields, read from kafka-protocol's `Debug` output (every generated
//! message derives it, naming each field), so any response can be compared field by field
//! without a comparison written per message type. Volatile fields are masked by rule.

use std::fmt::Write;

/// A decoded response, or one of its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A number, string, bytes, id or unit variant, as `Debug` prints it.
    Leaf(String),
    List(Vec<Node>),
    /// A message's fields in schema order (or a map's entries).
    Fields(Vec<(String, Node)>),
}

/// Parses the compact `{:?}` output of a kafka-protocol message.
pub fn parse(debug: &str) -> Node {
    let tokens = tokenize(debug);
    let mut at = 0;
    let node = value(&tokens, &mut at);
    debug_assert_eq!(at, tokens.len(), "trailing tokens in {debug}");
    node
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Punct(char),
}

fn tokenize(s: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\n' => {
                chars.next();
            }
            '{' | '}' | '[' | ']' | '(' | ')' | ':' | ',' => {
                chars.next();
                tokens.push(Token::Punct(c));
            }
            _ => {
                // A word: up to the next punctuation, with quoted parts (strings, b"bytes")
                // taken whole, escapes included.
                let mut word = String::new();
                let mut quoted = false;
                let mut escaped = false;
                while let Some(&c) = chars.peek() {
                    if quoted {
                        word.push(c);
                        chars.next();
                        if escaped {
                            escaped = false;
                        } else if c == '\\' {
                            escaped = true;
                        } else if c == '"' {
                            quoted = false;
                        }
                        continue;
                    }
                    if matches!(
                        c,
                        '{' | '}' | '[' | ']' | '(' | ')' | ':' | ',' | ' ' | '\n'
                    ) {
                        break;
                    }
                    if c == '"' {
                        quoted = true;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    tokens
}

fn punct(tokens: &[Token], at: usize) -> Option<char> {
    match tokens.get(at) {
        Some(Token::Punct(c)) => Some(*c),
        _ => None,
    }
}

fn value(tokens: &[Token], at: &mut usize) -> Node {
    match tokens.get(*at) {
        Some(Token::Punct('[')) => {
            *at += 1;
            Node::List(sequence(tokens, at, ']'))
        }
        Some(Token::Punct('{')) => {
            *at += 1;
            Node::Fields(fields(tokens, at))
        }
        Some(Token::Word(word)) => {
            let word = word.clone();
            *at += 1;
            match punct(tokens, *at) {
                // `Name { fields }`: a message.
                Some('{') => {
                    *at += 1;
                    Node::Fields(fields(tokens, at))
                }
                // `Some(x)`, `TopicName("t")`, `BrokerId(0)`: the value inside.
                Some('(') => {
                    *at += 1;
                    let mut inner = sequence(tokens, at, ')');
                    if inner.len() == 1 {
                        inner.pop().unwrap()
                    } else {
                        Node::List(inner)
                    }
                }
                _ => Node::Leaf(word),
            }
        }
        _ => Node::Leaf(String::new()),
    }
}

fn sequence(tokens: &[Token], at: &mut usize, close: char) -> Vec<Node> {
    let mut items = Vec::new();
    while *at < tokens.len() && punct(tokens, *at) != Some(close) {
        items.push(value(tokens, at));
        if punct(tokens, *at) == Some(',') {
            *at += 1;
        }
    }
    *at += 1;
    items
}

fn fields(tokens: &[Token], at: &mut usize) -> Vec<(String, Node)> {
    let mut fields = Vec::new();
    while *at < tokens.len() && punct(tokens, *at) != Some('}') {
        let name = match &tokens[*at] {
            Token::Word(w) => w.clone(),
            Token::Punct(c) => c.to_string(),
        };
        *at += 1;
        if punct(tokens, *at) == Some(':') {
            *at += 1;
        }
        fields.push((name, value(tokens, at)));
        if punct(tokens, *at) == Some(',') {
            *at += 1;
        }
    }
    *at += 1;
    fields
}

/// A field whose value differs between any two clusters, whatever they are: the rule that
/// masks it and why.
pub struct MaskRule {
    pub name: &'static str,
    pub matches: fn(&str) -> bool,
    pub why: &'static str,
}

pub const MASK_RULES: &[MaskRule] = &[
    MaskRule {
        name: "throttle_time_ms",
        matches: |f| f == "throttle_time_ms",
        why: "throttling depends on load, not on the request",
    },
    MaskRule {
        name: "cluster_id",
        matches: |f| f == "cluster_id",
        why: "each cluster has its own random id",
    },
    MaskRule {
        name: "topic_id",
        matches: |f| f == "topic_id",
        why: "topic ids are random per topic",
    },
    MaskRule {
        name: "producer_id",
        matches: |f| f == "producer_id",
        why: "producer ids are allocated per cluster",
    },
    MaskRule {
        name: "member_id, leader (JoinGroup)",
        // JoinGroup's `leader` is the leader's member id.
        matches: |f| f == "member_id" || f == "leader",
        why: "member ids are generated by the coordinator",
    },
    MaskRule {
        name: "port",
        matches: |f| f == "port",
        why: "each broker listens on its own port",
    },
    MaskRule {
        name: "finalized_features_epoch",
        matches: |f| f == "finalized_features_epoch",
        why: "Kafka's is the offset of the last feature record in its metadata log",
    },
    MaskRule {
        name: "session_id",
        matches: |f| f == "session_id",
        why: "fetch session ids are random",
    },
    MaskRule {
        name: "*timestamp*, *_time_ms, log_append_time",
        matches: |f| f.contains("timestamp") || f.ends_with("_time_ms") || f == "log_append_time",
        why: "times are taken from each broker's clock",
    },
];

/// The tree with every field a rule masks replaced by `<masked>`, and every list in a
/// canonical order: Kafka's keyed collections have no order of their own (its ApiVersions
/// features come in hash order), so lists are compared as multisets.
pub fn canonical(node: &Node) -> Node {
    match node {
        Node::Leaf(_) => node.clone(),
        Node::List(items) => {
            let mut items: Vec<Node> = items.iter().map(canonical).collect();
            items.sort_by_cached_key(render);
            Node::List(items)
        }
        Node::Fields(fields) => Node::Fields(
            fields
                .iter()
                .map(|(name, value)| {
                    let masked = MASK_RULES.iter().any(|rule| (rule.matches)(name));
                    let value = if masked {
                        Node::Leaf("<masked>".into())
                    } else {
                        canonical(value)
                    };
                    (name.clone(), value)
                })
                .collect(),
        ),
    }
}

/// A compact rendering, for sorting and for reports.
pub fn render(node: &Node) -> String {
    let mut out = String::new();
    render_into(node, &mut out);
    out
}

fn render_into(node: &Node, out: &mut String) {
    match node {
        Node::Leaf(s) => out.push_str(s),
        Node::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_into(item, out);
            }
            out.push(']');
        }
        Node::Fields(fields) => {
            out.push('{');
            for (i, (name, value)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{name}: ");
                render_into(value, out);
            }
            out.push('}');
        }
    }
}

/// One field that differs: its path (`topics[].partitions[].error_code`) and both values.
#[derive(Debug, Clone)]
pub struct Difference {
    pub path: String,
    pub emulator: String,
    pub kafka: String,
}

/// The fields of two canonical trees that differ. Lists of different lengths differ as a whole
/// (`path.len`); lists of the same length element by element.
pub fn differences(emulator: &Node, kafka: &Node) -> Vec<Difference> {
    let mut out = Vec::new();
    diff_into("", emulator, kafka, &mut out);
    out
}

fn diff_into(path: &str, a: &Node, b: &Node, out: &mut Vec<Difference>) {
    match (a, b) {
        (Node::Fields(fa), Node::Fields(fb)) => {
            for (name, va) in fa {
                let child = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                match fb.iter().find(|(n, _)| n == name) {
                    Some((_, vb)) => diff_into(&child, va, vb, out),
                    None => out.push(Difference {
                        path: child,
                        emulator: render(va),
                        kafka: "(absent)".into(),
                    }),
                }
            }
        }
        (Node::List(la), Node::List(lb)) if la.len() == lb.len() => {
            for (va, vb) in la.iter().zip(lb) {
                diff_into(&format!("{path}[]"), va, vb, out);
            }
        }
        (Node::List(la), Node::List(lb)) => out.push(Difference {
            path: format!("{path}.len"),
            emulator: format!("{} {}", la.len(), clip(&render(a))),
            kafka: format!("{} {}", lb.len(), clip(&render(b))),
        }),
        _ if a == b => {}
        _ => out.push(Difference {
            path: path.to_string(),
            emulator: clip(&render(a)),
            kafka: clip(&render(b)),
        }),
    }
}

fn clip(s: &str) -> String {
    if s.len() <= 300 {
        return s.to_string();
    }
    let mut end = 300;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::{
        metadata_response, ApiVersionsResponse, BrokerId, MetadataResponse, TopicName,
    };
    use kafka_protocol::protocol::StrBytes;

    #[test]
    fn a_response_reads_as_its_fields() {
        let response = ApiVersionsResponse::default()
            .with_throttle_time_ms(5)
            .with_api_keys(vec![ApiVersion::default()
                .with_api_key(3)
                .with_max_version(13)]);
        let tree = parse(&format!("{response:?}"));
        let Node::Fields(fields) = &tree else {
            panic!("{tree:?}")
        };
        assert_eq!(fields[0], ("error_code".into(), Node::Leaf("0".into())));
        let masked = canonical(&tree);
        assert!(render(&masked).contains("throttle_time_ms: <masked>"));
        assert!(render(&masked).contains("api_key: 3"));
    }

    #[test]
    fn strings_with_punctuation_and_wrapped_values_parse() {
        let response = MetadataResponse::default()
            .with_controller_id(BrokerId(1))
            .with_topics(vec![metadata_response::MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str(
                    "a, {b}: \"c\"(",
                ))))]);
        let tree = parse(&format!("{response:?}"));
        let rendered = render(&tree);
        assert!(rendered.contains(r#"name: "a, {b}: \"c\"(""#), "{rendered}");
        assert!(rendered.contains("controller_id: 1"), "{rendered}");
    }

    #[test]
    fn differences_name_their_path_and_lists_are_multisets() {
        let a = parse(r#"R { errors: [E { code: 1 }, E { code: 2 }], message: Some("x") }"#);
        let b = parse(r#"R { errors: [E { code: 2 }, E { code: 1 }], message: None }"#);
        let diffs = differences(&canonical(&a), &canonical(&b));
        assert_eq!(diffs.len(), 1, "{diffs:?}");
        assert_eq!(diffs[0].path, "message");
        assert_eq!(diffs[0].kafka, "None");
    }
}
