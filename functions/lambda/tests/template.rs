//! infra/template.yaml and the function binaries never drift apart: every
//! function the template deploys is a binary here, the variables it sets are
//! enough to start one, and each function gets exactly the routes it serves
//! (a route missing from the template is unreachable on AWS; one the
//! function lacks is a 404 there).

use std::collections::BTreeSet;
use std::path::PathBuf;

use podops_lambda::{Config, Function};

/// One function's block in the template: its binary and its HTTP API events.
#[derive(Debug, Default)]
struct Deployed {
    binary: String,
    code_uri: String,
    routes: Vec<(String, String)>,
    /// Reached through its own function URL whose response streams (not the HTTP API).
    streaming_url: bool,
}

fn template() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The value after `key: ` on a line: a quoted string, or up to `,` or ` }`
/// (paths hold braces of their own).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("{key}: "))? + key.len() + 2;
    let rest = &line[start..];
    if let Some(quoted) = rest.strip_prefix('"') {
        return quoted.split('"').next();
    }
    let end = [rest.find(','), rest.find(" }")].into_iter().flatten().min().unwrap_or(rest.len());
    Some(rest[..end].trim())
}

/// The `AWS::Serverless::Function` blocks (two-space indented resource names).
fn deployed(template: &str) -> Vec<Deployed> {
    let mut out: Vec<Deployed> = Vec::new();
    let mut current: Option<Deployed> = None;
    for line in template.lines() {
        let is_resource = line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':');
        if is_resource {
            out.extend(current.take().filter(|d| !d.binary.is_empty()));
            current = Some(Deployed::default());
            continue;
        }
        let Some(block) = current.as_mut() else { continue };
        if let Some(binary) = field(line, "Binary") {
            block.binary = binary.to_owned();
        }
        if let Some(uri) = field(line, "CodeUri") {
            block.code_uri = uri.to_owned();
        }
        if line.contains("InvokeMode: RESPONSE_STREAM") {
            block.streaming_url = true;
        }
        if line.contains("Type: HttpApi") {
            let method = field(line, "Method").unwrap_or_else(|| panic!("an HttpApi event without a Method: {line}"));
            let path = field(line, "Path").unwrap_or_else(|| panic!("an HttpApi event without a Path: {line}"));
            block.routes.push((method.to_owned(), path.to_owned()));
        }
    }
    out.extend(current.filter(|d| !d.binary.is_empty()));
    out
}

/// The routes a function serves, as (METHOD, OpenAPI path).
fn served(function: Function) -> BTreeSet<(String, String)> {
    let (_, doc) = function.routes().split_for_parts();
    let mut out = BTreeSet::new();
    for (path, item) in doc.paths.paths {
        let methods = [
            ("GET", item.get.is_some()),
            ("PUT", item.put.is_some()),
            ("POST", item.post.is_some()),
            ("DELETE", item.delete.is_some()),
            ("HEAD", item.head.is_some()),
            ("PATCH", item.patch.is_some()),
        ];
        for (method, present) in methods {
            if present {
                out.insert((method.to_owned(), path.clone()));
            }
        }
    }
    out
}

/// Whether an HTTP API route (`ANY`, `{param}`, a final `{proxy+}`) covers a route.
fn covers((t_method, t_path): &(String, String), (method, path): &(String, String)) -> bool {
    // Unlike axum, API Gateway documents no HEAD-on-GET: HEAD needs its own route or ANY.
    let method_ok = t_method == "ANY" || t_method == method;
    let (t, p): (Vec<&str>, Vec<&str>) = (t_path.split('/').collect(), path.split('/').collect());
    let segments_ok = match t.last() {
        Some(last) if last.ends_with("+}") => {
            p.len() >= t.len() && t[..t.len() - 1].iter().zip(&p).all(|(a, b)| a == b || a.starts_with('{'))
        }
        // A template parameter takes any one segment, a literal one too (`{action}` covers `status`).
        _ => t.len() == p.len() && t.iter().zip(&p).all(|(a, b)| a == b || a.starts_with('{')),
    };
    method_ok && segments_ok
}

fn block(function: Function) -> Deployed {
    let mut blocks = deployed(&template());
    let i = blocks
        .iter()
        .position(|d| d.binary == function.binary())
        .unwrap_or_else(|| panic!("infra/template.yaml deploys no function with Binary: {}", function.binary()));
    blocks.swap_remove(i)
}

#[test]
fn the_template_deploys_exactly_these_binaries_from_cargo_lambdas_output() {
    let mut deployed: Vec<String> = deployed(&template()).into_iter().map(|d| d.binary).collect();
    deployed.sort();
    let mut ours: Vec<String> = Function::ALL.iter().map(|f| f.binary().to_owned()).collect();
    ours.sort();
    assert_eq!(deployed, ours);
    for function in Function::ALL {
        assert_eq!(block(function).code_uri, format!("../target/lambda/{}/", function.binary()));
    }
}

#[test]
fn every_route_a_function_serves_reaches_it_through_the_http_api() {
    let mut missing = Vec::new();
    for function in Function::ALL {
        let deployed = block(function);
        if deployed.streaming_url {
            assert!(deployed.routes.is_empty(), "{} streams through its URL: no HTTP API routes", function.binary());
            continue;
        }
        for route in served(function) {
            if !deployed.routes.iter().any(|t| covers(t, &route)) {
                missing.push(format!("{} {} ({})", route.0, route.1, function.binary()));
            }
        }
    }
    assert_eq!(missing, Vec::<String>::new(), "routes the template does not send to their function");
}

#[test]
fn every_http_api_route_of_a_function_is_one_it_serves() {
    let mut dead = Vec::new();
    for function in Function::ALL {
        let served = served(function);
        for route in block(function).routes {
            if !served.iter().any(|r| covers(&route, r)) {
                dead.push(format!("{} {} ({})", route.0, route.1, function.binary()));
            }
        }
    }
    assert_eq!(dead, Vec::<String>::new(), "template routes the function would answer with 404");
}

#[test]
fn the_variables_the_template_sets_are_enough_to_start() {
    let template = template();
    let globals = template.split("Globals:").nth(1).and_then(|g| g.split("\nResources:").next()).expect("a Globals section");
    let names: Vec<&str> =
        globals.lines().filter_map(|l| l.trim().split_once(':').map(|(k, _)| k)).filter(|k| k.starts_with("PODOPS_")).collect();
    assert!(names.contains(&"PODOPS_TABLE") && names.contains(&"PODOPS_SIGNING_KEY_PARAMETER"), "{names:?}");
    // The Lambda service sets AWS_REGION; the template's values are
    // intrinsic functions, so any well-formed value stands in for them.
    // (The admin list is a parameter whose default is empty.)
    let config = Config::from_lookup(|name| match name {
        "PODOPS_ADMIN_EMAILS" => Some(String::new()),
        _ => (name == "AWS_REGION" || names.contains(&name)).then(|| "https://placeholder.example".to_owned()),
    });
    if let Err(e) = config {
        panic!("a function started with the template's variables would refuse: {e}");
    }
}

#[test]
fn route_patterns_match_as_api_gateway_matches_them() {
    let route = |m: &str, p: &str| (m.to_owned(), p.to_owned());
    assert!(covers(&route("ANY", "/a/v1/asset/{proxy+}"), &route("HEAD", "/a/v1/asset/{prod}/{id}/content")));
    assert!(covers(&route("GET", "/feeds/{proxy+}"), &route("GET", "/feeds/{path}")));
    assert!(!covers(&route("GET", "/feeds/{proxy+}"), &route("HEAD", "/feeds/{path}")));
    assert!(covers(&route("POST", "/a/v1/upload/{prod}"), &route("POST", "/a/v1/upload/{p}")));
    assert!(!covers(&route("POST", "/a/v1/upload/{prod}"), &route("POST", "/a/v1/upload/{prod}/{asset}/complete")));
    assert!(!covers(&route("GET", "/a/v1/productions"), &route("POST", "/a/v1/productions")));
    assert!(covers(&route("ANY", "/a/v1/stream/{prod}/{id}/{action}"), &route("GET", "/a/v1/stream/{prod}/{id}/status")));
    assert!(!covers(&route("GET", "/a/v1/stream/{prod}/{id}/status"), &route("GET", "/a/v1/stream/{prod}/{id}/{action}")));
}
