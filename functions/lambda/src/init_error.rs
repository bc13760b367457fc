//! Reports a failed start to the runtime API's `/init/error`, as the Lambda
//! runtime interface asks: Lambda then records the reason and fails the
//! invocation that was waiting, instead of seeing a process that just died.
//! (`lambda_runtime` only reports init errors of its own SnapStart hooks.)

use http::{Method, StatusCode};
use lambda_runtime_api_client::{PooledClient, body::Body, build_request};
use serde_json::json;

use crate::InitError;

const PATH: &str = "/2018-06-01/runtime/init/error";

pub async fn report(error: &InitError) {
    // Outside Lambda (a local run by hand) there is no runtime API to tell.
    let Some(api) = std::env::var("AWS_LAMBDA_RUNTIME_API").ok().filter(|a| !a.is_empty()) else { return };
    let endpoint = match format!("http://{api}").parse::<http::Uri>() {
        Ok(uri) if uri.authority().is_some() => uri,
        _ => {
            tracing::error!(value = %api, "AWS_LAMBDA_RUNTIME_API is not host:port; the init error is not reported");
            return;
        }
    };
    let body = json!({ "errorMessage": error.to_string(), "errorType": error.error_type(), "stackTrace": [] }).to_string();
    let request = build_request()
        .method(Method::POST)
        .uri(PATH)
        .header("lambda-runtime-function-error-type", error.error_type())
        .header("content-type", "application/json")
        .body(Body::from(body));
    let request = match request {
        Ok(request) => request,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the init error report");
            return;
        }
    };
    let client = PooledClient::builder().with_endpoint(endpoint).build();
    match client.call(request).await {
        Ok(response) if response.status() == StatusCode::ACCEPTED || response.status().is_success() => {}
        Ok(response) => tracing::error!(status = %response.status(), "the runtime API refused the init error report"),
        Err(e) => tracing::error!(error = %e, "cannot report the init error to the runtime API"),
    }
}
